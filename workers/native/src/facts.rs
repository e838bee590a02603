//! What order conditions read (facts.py), with the same laziness: local time once per
//! zone, the CEL view of the purchase only when an `expr` asks, once per field set.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Value};

use crate::demand::Demand;
use crate::event::{Customer, Line, Merchant, Purchase, Refund, Str};
use crate::json::{Decline, R};
use crate::spec::Catalog;
use crate::time::DateTime;

/// The purchase as CEL sees it: a purchase, or a refund's view of its original with the
/// amounts of the view being priced (engine.py `_refund_view`).
#[derive(Clone, Copy)]
pub enum View<'e, 'a> {
    Purchase(&'e Purchase<'a>),
    Refund {
        event: &'e Refund<'a>,
        lines: &'e [u64],
        total: u64,
    },
}

pub struct Facts<'e, 'a, 'c> {
    pub t_us: i64,
    pub merchant: Option<&'e str>,
    pub mcc: Option<&'e str>,
    pub region: Option<&'e str>,
    pub channel: Option<&'e str>,
    pub payment_method: Option<&'e str>,
    pub tier: Option<&'e str>,
    pub segments: &'e [Str<'a>],
    view: View<'e, 'a>,
    local: Vec<(usize, u8, u32)>,
    /// (field set, CEL scope holding `purchase` narrowed to it), built on first use.
    contexts: Vec<(usize, Context<'c>)>,
}

fn opt<'e>(s: &'e Option<Str<'_>>) -> Option<&'e str> {
    s.as_deref()
}

fn merchant_fields<'e>(
    m: &'e Option<Merchant<'_>>,
) -> (Option<&'e str>, Option<&'e str>, Option<&'e str>) {
    match m {
        Some(m) => (opt(&m.id), opt(&m.mcc), opt(&m.region)),
        None => (None, None, None),
    }
}

impl<'e, 'a, 'c> Facts<'e, 'a, 'c> {
    /// engine.py `purchase_facts`.
    pub fn purchase(p: &'e Purchase<'a>) -> Self {
        let (merchant, mcc, region) = merchant_fields(&p.merchant);
        Facts {
            t_us: p.occurred_at.epoch_us(),
            merchant,
            mcc,
            region,
            channel: opt(&p.channel),
            payment_method: opt(&p.payment_method),
            tier: opt(&p.customer.tier),
            segments: &p.customer.segments,
            view: View::Purchase(p),
            local: Vec::new(),
            contexts: Vec::new(),
        }
    }

    /// engine.py `refund_facts`: the original's time, merchant and customer-as-then.
    pub fn refund(r: &'e Refund<'a>, lines: &'e [u64], total: u64) -> Self {
        let o = &r.original;
        let (merchant, mcc, region) = merchant_fields(&o.merchant);
        let (tier, segments): (Option<&'e str>, &'e [Str<'a>]) = match &o.customer {
            Some(c) => (opt(&c.tier), &c.segments),
            None => (opt(&r.customer.tier), &r.customer.segments),
        };
        Facts {
            t_us: o.occurred_at.epoch_us(),
            merchant,
            mcc,
            region,
            channel: opt(&o.channel),
            payment_method: opt(&o.payment_method),
            tier,
            segments,
            view: View::Refund {
                event: r,
                lines,
                total,
            },
            local: Vec::new(),
            contexts: Vec::new(),
        }
    }

    /// (weekday 0 = Monday, minute of the day) in `zone`; declines outside the zone table.
    pub fn local(&mut self, catalog: &Catalog, zone: usize) -> R<(u8, u32)> {
        if let Some(&(_, d, m)) = self.local.iter().find(|e| e.0 == zone) {
            return Ok((d, m));
        }
        let secs = self.t_us.div_euclid(1_000_000);
        let offset = catalog.offset(zone, secs).ok_or(Decline)?;
        let local = secs + offset;
        let days = local.div_euclid(86400);
        let minute = (local.rem_euclid(86400) / 60) as u32;
        let weekday = (days + 3).rem_euclid(7) as u8; // 1970-01-01 was a Thursday
        self.local.push((zone, weekday, minute));
        Ok((weekday, minute))
    }

    /// Evaluates a CEL program on the view narrowed to `fieldset`: holds only on `true`.
    /// A panic inside the CEL runtime declines.
    pub fn expr(
        &mut self,
        base: &'c Context<'c>,
        catalog: &Catalog,
        program: &cel::Program,
        fieldset: usize,
    ) -> R<bool> {
        let at = match self.contexts.iter().position(|e| e.0 == fieldset) {
            Some(at) => at,
            None => {
                let value = build_view(self.view, &catalog.fieldsets[fieldset]);
                let mut ctx = base.new_inner_scope();
                ctx.add_variable_from_value("purchase", value);
                self.contexts.push((fieldset, ctx));
                self.contexts.len() - 1
            }
        };
        let ctx = &self.contexts[at].1;
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(ctx)))
                .map_err(|_| Decline)?;
        Ok(matches!(result, Ok(Value::Bool(true))))
    }
}

// ------------------------------------------------------------------ CEL values

fn s(x: &str) -> Value {
    Value::String(Arc::new(x.to_string()))
}

fn os(x: &Option<Str<'_>>) -> Value {
    match x {
        Some(v) => s(v),
        None => Value::Null,
    }
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m: HashMap<Key, Value> = HashMap::with_capacity(entries.len());
    for (k, v) in entries {
        m.insert(Key::String(Arc::new(k.to_string())), v);
    }
    Value::Map(Map { map: Arc::new(m) })
}

fn int(v: u64) -> Value {
    Value::Int(v as i64) // every amount is <= 2^53 - 1
}

fn time(t: &DateTime) -> Value {
    Value::String(Arc::new(t.to_text()))
}

fn segments(list: &[Str<'_>]) -> Value {
    Value::List(Arc::new(list.iter().map(|x| s(x)).collect()))
}

fn customer(c: &Customer<'_>, tier: Option<&Option<Str<'_>>>, segs: Option<&[Str<'_>]>) -> Value {
    map(vec![
        ("id", s(&c.id)),
        ("tier", os(tier.unwrap_or(&c.tier))),
        ("segments", segments(segs.unwrap_or(&c.segments))),
        ("locale", os(&c.locale)),
        ("notifications", Value::Bool(c.notifications)),
    ])
}

fn merchant(m: &Merchant<'_>) -> Value {
    map(vec![
        ("id", os(&m.id)),
        ("mcc", os(&m.mcc)),
        ("region", os(&m.region)),
    ])
}

fn lines(ls: &[Line<'_>], amounts: Option<&[u64]>) -> Value {
    Value::List(Arc::new(
        ls.iter()
            .enumerate()
            .map(|(i, l)| {
                map(vec![
                    ("sku", s(&l.sku)),
                    ("category", s(&l.category)),
                    ("quantity", int(l.quantity)),
                    ("amount_minor", int(amounts.map_or(l.amount, |a| a[i]))),
                ])
            })
            .collect(),
    ))
}

/// Only its length: what `size(purchase.lines)` reads (cel.py `narrow`).
fn nulls(n: usize) -> Value {
    Value::List(Arc::new(vec![Value::Null; n]))
}

/// `msgspec.to_builtins(event)` without its top-level nulls (engine.py `_present`),
/// narrowed to what `demand` reaches (facts.py `cel_context`).
fn build_view(view: View<'_, '_>, demand: &Demand) -> Value {
    let want = |k: &str| demand.wants(k);
    let sized_lines = demand.sized("lines");
    let mut out: Vec<(&str, Value)> = Vec::with_capacity(11);
    match view {
        View::Purchase(p) => {
            if want("type") {
                out.push(("type", s("purchase")));
            }
            if want("event_id") {
                out.push(("event_id", s(&p.event_id)));
            }
            if want("purchase_id") {
                out.push(("purchase_id", s(&p.purchase_id)));
            }
            if want("occurred_at") {
                out.push(("occurred_at", time(&p.occurred_at)));
            }
            if want("customer") {
                out.push(("customer", customer(&p.customer, None, None)));
            }
            if want("currency") {
                out.push(("currency", s(&p.currency)));
            }
            if want("total_minor") {
                out.push(("total_minor", int(p.total)));
            }
            if sized_lines {
                out.push(("lines", nulls(p.lines.len())));
            } else if want("lines") {
                out.push(("lines", lines(&p.lines, None)));
            }
            if let Some(m) = &p.merchant {
                if want("merchant") {
                    out.push(("merchant", merchant(m)));
                }
            }
            if let Some(c) = &p.channel {
                if want("channel") {
                    out.push(("channel", s(c)));
                }
            }
            if let Some(c) = &p.payment_method {
                if want("payment_method") {
                    out.push(("payment_method", s(c)));
                }
            }
        }
        View::Refund {
            event,
            lines: amounts,
            total,
        } => {
            let o = &event.original;
            if want("type") {
                out.push(("type", s("purchase")));
            }
            if want("event_id") {
                out.push(("event_id", s(&event.event_id)));
            }
            if want("purchase_id") {
                out.push(("purchase_id", s(&event.purchase_id)));
            }
            if want("occurred_at") {
                out.push(("occurred_at", time(&o.occurred_at)));
            }
            if want("customer") {
                let value = match &o.customer {
                    Some(c) => customer(&event.customer, Some(&c.tier), Some(&c.segments)),
                    None => customer(&event.customer, None, None),
                };
                out.push(("customer", value));
            }
            if want("currency") {
                out.push(("currency", s(&event.currency)));
            }
            if want("total_minor") {
                out.push(("total_minor", int(total)));
            }
            if sized_lines {
                out.push(("lines", nulls(o.lines.len())));
            } else if want("lines") {
                out.push(("lines", lines(&o.lines, Some(amounts))));
            }
            if let Some(m) = &o.merchant {
                if want("merchant") {
                    out.push(("merchant", merchant(m)));
                }
            }
            if let Some(c) = &o.channel {
                if want("channel") {
                    out.push(("channel", s(c)));
                }
            }
            if let Some(c) = &o.payment_method {
                if want("payment_method") {
                    out.push(("payment_method", s(c)));
                }
            }
        }
    }
    map(out)
}
