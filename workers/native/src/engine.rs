//! engine.py `Engine.handle` for the events it can price natively: purchases, refunds
//! (difference method), accruals and notifications.

use std::collections::BTreeMap;

use cel::Context;

use crate::event::{self, Event, Purchase, Refund, RefundAmounts};
use crate::facts::Facts;
use crate::json::{Decline, R};
use crate::pricing::{price, Env, Price};
use crate::records::{accrual_id, Accrual, RuleAmount};
use crate::spec::{Catalog, RuleSet};

pub const ACCRUED: u8 = 0;
pub const REVERSED: u8 = 1;
pub const NOT_ELIGIBLE: u8 = 2;

pub struct Output {
    pub notification: bool,
    pub value: Vec<u8>,
}

pub struct Tally {
    pub ruleset: usize,
    pub reversal: bool,
    pub amount: i64,
}

pub struct Handled<'a> {
    pub outcome: u8,
    pub outputs: Vec<Output>,
    pub tallies: Vec<Tally>,
    pub event_id: &'a str,
    pub currency: &'a str,
    pub customer_id: &'a str,
    pub purchase_minor: u64,
    pub event_time_us: i64,
}

fn to_i64(v: i128) -> R<i64> {
    i64::try_from(v).map_err(|_| Decline)
}

/// Decodes and prices `raw`; `sink` sees the result while the event is alive (the
/// strings it borrows may be unescaped copies owned by the decoded event).
pub fn handle<T>(
    catalog: &Catalog,
    cel: &Context<'_>,
    raw: &str,
    sink: impl FnOnce(Handled<'_>) -> T,
) -> R<T> {
    let env = Env { catalog, cel };
    match event::decode(raw)? {
        Event::Purchase(p) => purchase(catalog, &env, &p).map(sink),
        Event::Refund(r, amounts) => refund(catalog, &env, &r, &amounts).map(sink),
    }
}

fn emit(
    out: &mut (Vec<Output>, Vec<Tally>),
    rs_index: usize,
    accrual: &Accrual<'_>,
    template: Option<&str>,
    notifications: bool,
    locale: Option<&str>,
    descriptions: &[&str],
) {
    out.1.push(Tally {
        ruleset: rs_index,
        reversal: accrual.kind == "reversal",
        amount: accrual.amount,
    });
    out.0.push(Output {
        notification: false,
        value: accrual.encode(),
    });
    if let Some(t) = template {
        if notifications {
            out.0.push(Output {
                notification: true,
                value: accrual.notification(t, locale, descriptions),
            });
        }
    }
}

fn purchase<'e>(catalog: &Catalog, env: &Env<'_>, p: &'e Purchase<'_>) -> R<Handled<'e>> {
    let t_us = p.occurred_at.epoch_us();
    let mut out = (Vec::new(), Vec::new());
    let in_force = catalog.at(t_us);
    if !in_force.is_empty() {
        let mut facts = Facts::purchase(p);
        let amounts: Vec<u64> = p.lines.iter().map(|l| l.amount).collect();
        for &i in in_force {
            let rs = &catalog.rulesets[i];
            if !rs.currencies.iter().any(|c| *c == *p.currency) {
                continue;
            }
            let priced = price(rs, env, &mut facts, &p.lines, &amounts, p.total)?;
            if priced.amount == 0 {
                continue;
            }
            let rules = priced
                .paying
                .iter()
                .map(|r| RuleAmount {
                    id: &rs.rules[r.rank].id,
                    base: r.base as i64,
                    amount: r.paid as i64,
                })
                .collect();
            let available_at = p.occurred_at.plus_days(rs.hold_days)?;
            let expires_at = match rs.expires_days {
                Some(d) => Some(available_at.plus_days(d)?),
                None => None,
            };
            let accrual = Accrual {
                accrual_id: accrual_id(&p.event_id, &rs.name),
                kind: "accrual",
                event_id: &p.event_id,
                purchase_id: &p.purchase_id,
                customer_id: &p.customer.id,
                ruleset: &rs.name,
                ruleset_version: rs.version,
                currency: &p.currency,
                amount: to_i64(priced.amount)?,
                base: to_i64(priced.base)?,
                rules,
                status: if rs.hold_days != 0 {
                    "pending"
                } else {
                    "available"
                },
                occurred_at: p.occurred_at,
                available_at,
                expires_at,
            };
            let descriptions: Vec<&str> = priced
                .paying
                .iter()
                .map(|r| rs.rules[r.rank].description.as_str())
                .collect();
            emit(
                &mut out,
                i,
                &accrual,
                rs.notify_accrual.as_deref(),
                p.customer.notifications,
                p.customer.locale.as_deref(),
                &descriptions,
            );
        }
    }
    let outcome = if out.1.is_empty() {
        NOT_ELIGIBLE
    } else {
        ACCRUED
    };
    Ok(Handled {
        outcome,
        outputs: out.0,
        tallies: out.1,
        event_id: &p.event_id,
        currency: &p.currency,
        customer_id: &p.customer.id,
        purchase_minor: p.total,
        event_time_us: t_us,
    })
}

/// engine.py `_rule_changes`: per rule, after - before, in priority order, non-zero only.
fn rule_changes<'r>(rs: &'r RuleSet, before: &Price, after: &Price) -> R<Vec<RuleAmount<'r>>> {
    let mut paid: BTreeMap<usize, (i128, i128)> = BTreeMap::new();
    for (sign, priced) in [(-1i128, before), (1i128, after)] {
        for r in &priced.paying {
            let e = paid.entry(r.rank).or_insert((0, 0));
            e.0 += sign * r.base as i128;
            e.1 += sign * r.paid as i128;
        }
    }
    let mut out = Vec::new();
    for (rank, (base, amount)) in paid {
        if amount != 0 {
            out.push(RuleAmount {
                id: &rs.rules[rank].id,
                base: to_i64(base)?,
                amount: to_i64(amount)?,
            });
        }
    }
    Ok(out)
}

fn refund<'e>(
    catalog: &Catalog,
    env: &Env<'_>,
    r: &'e Refund<'_>,
    amounts: &RefundAmounts,
) -> R<Handled<'e>> {
    let t_us = r.occurred_at.epoch_us();
    let mut out = (Vec::new(), Vec::new());
    let original = &r.original;
    let in_force = catalog.at(original.occurred_at.epoch_us());
    if !in_force.is_empty() {
        let mut before_facts = Facts::refund(r, &amounts.before_lines, amounts.before_total);
        let mut after_facts = Facts::refund(r, &amounts.after_lines, amounts.after_total);
        for &i in in_force {
            let rs = &catalog.rulesets[i];
            if !rs.currencies.iter().any(|c| *c == *r.currency) {
                continue;
            }
            let before = price(
                rs,
                env,
                &mut before_facts,
                &original.lines,
                &amounts.before_lines,
                amounts.before_total,
            )?;
            let after = price(
                rs,
                env,
                &mut after_facts,
                &original.lines,
                &amounts.after_lines,
                amounts.after_total,
            )?;
            let change = after.amount - before.amount;
            if change == 0 {
                continue;
            }
            let rules = rule_changes(rs, &before, &after)?;
            let descriptions: Vec<&str> = rs
                .rules
                .iter()
                .filter(|rule| rules.iter().any(|c| c.id == rule.id))
                .map(|rule| rule.description.as_str())
                .collect();
            let accrual = Accrual {
                accrual_id: accrual_id(&r.event_id, &rs.name),
                kind: "reversal",
                event_id: &r.event_id,
                purchase_id: &r.purchase_id,
                customer_id: &r.customer.id,
                ruleset: &rs.name,
                ruleset_version: rs.version,
                currency: &r.currency,
                amount: to_i64(change)?,
                base: to_i64(after.base - before.base)?,
                rules,
                status: "available",
                occurred_at: r.occurred_at,
                available_at: r.occurred_at,
                expires_at: None,
            };
            emit(
                &mut out,
                i,
                &accrual,
                rs.notify_reversal.as_deref(),
                r.customer.notifications,
                r.customer.locale.as_deref(),
                &descriptions,
            );
        }
    }
    let outcome = if out.1.is_empty() {
        NOT_ELIGIBLE
    } else {
        REVERSED
    };
    Ok(Handled {
        outcome,
        outputs: out.0,
        tallies: out.1,
        event_id: &r.event_id,
        currency: &r.currency,
        customer_id: &r.customer.id,
        purchase_minor: 0,
        event_time_us: t_us,
    })
}
