//! The catalog as the Python exporter writes it (cashback.domain.native_spec), compiled
//! into the structures pricing reads.

use std::collections::HashMap;

use serde::Deserialize;

use crate::demand::{self, Demand};
use crate::fxhash::FxMap;

/// Fields of the purchase view that are always lists (cel.py `SIZED_LISTS`).
const SIZED_LISTS: &[&str] = &["lines"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecDoc {
    max_event_bytes: u64,
    starts_us: Vec<i64>,
    in_force: Vec<Vec<usize>>,
    zones: Vec<ZoneDoc>,
    zone_valid_from: i64,
    zone_valid_until: i64,
    rulesets: Vec<RuleSetDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneDoc {
    key: String,
    transitions: Vec<(i64, i64)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSetDoc {
    name: String,
    version: i64,
    currencies: Vec<String>,
    rounding: String,
    combine: String,
    max_per_purchase_minor: Option<u64>,
    hold_days: i64,
    expires_days: Option<i64>,
    notify_accrual: Option<String>,
    notify_reversal: Option<String>,
    zone: Option<usize>,
    rules: Vec<RuleDoc>,
    candidates_by_category: HashMap<String, Vec<usize>>,
    always: Vec<usize>,
    by_sku: HashMap<String, Vec<usize>>,
    sku_sensitive: bool,
    by_merchant: HashMap<String, Vec<usize>>,
    by_mcc: HashMap<String, Vec<usize>>,
    order_indexed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    id: String,
    description: String,
    categories: Option<Vec<String>>,
    skus: Option<Vec<String>>,
    min_total: Option<u64>,
    conditions: Vec<ConditionDoc>,
    payout: PayoutDoc,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ConditionDoc {
    OneOf {
        field: String,
        allowed: Vec<String>,
    },
    Segments {
        allowed: Vec<String>,
    },
    DaysOfWeek {
        days: Vec<u32>,
    },
    LocalTime {
        start: u32,
        end: u32,
    },
    Expr {
        source: String,
        fields: Option<Vec<String>>,
        #[serde(default)]
        sized: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayoutDoc {
    percent: Option<(u64, u64)>,
    fixed_minor: Option<u64>,
    bands: Vec<(u64, u64, u64)>,
    max_minor: Option<u64>,
    min_minor: Option<u64>,
}

// ------------------------------------------------------------------ compiled

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rounding {
    Down,
    HalfUp,
    HalfEven,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Combine {
    First,
    Best,
    Stack,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    Mcc,
    Merchant,
    Region,
    Channel,
    PaymentMethod,
    Tier,
}

pub enum Condition {
    OneOf {
        field: Field,
        allowed: Vec<String>,
    },
    Segments {
        allowed: Vec<String>,
    },
    /// Bit d set: local weekday d (0 = Monday) is allowed.
    DaysOfWeek {
        days: u8,
    },
    LocalTime {
        start: u32,
        end: u32,
    },
    /// `fieldset` indexes `Catalog::fieldsets` (what of `purchase` the CEL view builds).
    Expr {
        program: cel::Program,
        fieldset: usize,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Percent {
    pub num: u64,
    pub den: u64,
}

pub struct Payout {
    pub percent: Option<Percent>,
    pub fixed_minor: Option<u64>,
    pub bands: Vec<(u64, Percent)>,
    pub max_minor: Option<u64>,
    pub min_minor: Option<u64>,
}

pub struct Rule {
    pub id: String,
    pub description: String,
    pub skus: Option<Vec<String>>,
    pub min_total: Option<u64>,
    pub conditions: Vec<Condition>,
    pub payout: Payout,
}

pub struct RuleSet {
    pub name: String,
    pub version: i64,
    pub currencies: Vec<String>,
    pub rounding: Rounding,
    pub combine: Combine,
    pub max_per_purchase_minor: Option<u64>,
    pub hold_days: i64,
    pub expires_days: Option<i64>,
    pub notify_accrual: Option<String>,
    pub notify_reversal: Option<String>,
    pub zone: Option<usize>,
    pub rules: Vec<Rule>,
    pub candidates_by_category: FxMap<String, Vec<usize>>,
    pub always: Vec<usize>,
    pub by_sku: FxMap<String, Vec<usize>>,
    pub sku_sensitive: bool,
    pub by_merchant: FxMap<String, Vec<usize>>,
    pub by_mcc: FxMap<String, Vec<usize>>,
    pub order_indexed: bool,
}

pub struct Zone {
    pub starts: Vec<i64>,
    pub offsets: Vec<i64>,
}

pub struct Catalog {
    pub max_event_bytes: u64,
    pub starts_us: Vec<i64>,
    pub in_force: Vec<Vec<usize>>,
    pub zones: Vec<Zone>,
    pub zone_valid_from: i64,
    pub zone_valid_until: i64,
    pub rulesets: Vec<RuleSet>,
    /// Distinct demands of `expr` conditions (what of the purchase each one builds).
    pub fieldsets: Vec<Demand>,
}

fn fx<V>(m: HashMap<String, V>) -> FxMap<String, V> {
    m.into_iter().collect()
}

fn ranks_ok(ranks: &[usize], n: usize) -> bool {
    ranks.iter().all(|&r| r < n) && ranks.windows(2).all(|w| w[0] < w[1])
}

fn percent(num: u64, den: u64) -> Result<Percent, String> {
    // money.py: numerator <= 100 * denominator, denominator a power of ten <= 10^6.
    if den == 0 || den > 1_000_000 || num > 100 * den {
        return Err(format!("bad percent {num}/{den}"));
    }
    Ok(Percent { num, den })
}

impl Catalog {
    pub fn parse(spec: &[u8]) -> Result<Catalog, String> {
        let doc: SpecDoc = serde_json::from_slice(spec).map_err(|e| format!("spec: {e}"))?;
        if doc.in_force.len() != doc.starts_us.len() + 1 {
            return Err("in_force must have len(starts_us) + 1 entries".into());
        }
        if !doc.starts_us.windows(2).all(|w| w[0] < w[1]) {
            return Err("starts_us must be sorted".into());
        }
        let mut zones = Vec::new();
        for z in doc.zones {
            if z.transitions.is_empty() || !z.transitions.windows(2).all(|w| w[0].0 < w[1].0) {
                return Err(format!(
                    "zone {}: transitions must be sorted and non-empty",
                    z.key
                ));
            }
            if z.transitions.iter().any(|t| t.1.abs() >= 86400) {
                return Err(format!("zone {}: offset out of range", z.key));
            }
            zones.push(Zone {
                starts: z.transitions.iter().map(|t| t.0).collect(),
                offsets: z.transitions.iter().map(|t| t.1).collect(),
            });
        }
        let mut fieldsets: Vec<Demand> = Vec::new();
        let mut rulesets = Vec::new();
        for rs in doc.rulesets {
            let n = rs.rules.len();
            let rounding = match rs.rounding.as_str() {
                "down" => Rounding::Down,
                "half_up" => Rounding::HalfUp,
                "half_even" => Rounding::HalfEven,
                other => return Err(format!("unknown rounding {other:?}")),
            };
            let combine = match rs.combine.as_str() {
                "first" => Combine::First,
                "best" => Combine::Best,
                "stack" => Combine::Stack,
                other => return Err(format!("unknown combine {other:?}")),
            };
            if !(0..=3650).contains(&rs.hold_days)
                || rs.expires_days.is_some_and(|d| !(1..=36500).contains(&d))
            {
                return Err(format!("{}: hold_days/expires_days out of range", rs.name));
            }
            if let Some(z) = rs.zone {
                if z >= zones.len() {
                    return Err(format!("{}: zone index out of range", rs.name));
                }
            }
            let mut rules = Vec::with_capacity(n);
            for r in rs.rules {
                let mut conditions = Vec::new();
                for c in r.conditions {
                    conditions.push(match c {
                        ConditionDoc::OneOf { field, allowed } => Condition::OneOf {
                            field: match field.as_str() {
                                "mcc" => Field::Mcc,
                                "merchant" | "merchants" => Field::Merchant,
                                "region" | "regions" => Field::Region,
                                "channel" | "channels" => Field::Channel,
                                "payment_method" | "payment_methods" => Field::PaymentMethod,
                                "tier" | "tiers" => Field::Tier,
                                other => return Err(format!("unknown one_of field {other:?}")),
                            },
                            allowed,
                        },
                        ConditionDoc::Segments { allowed } => Condition::Segments { allowed },
                        ConditionDoc::DaysOfWeek { days } => {
                            let mut bits = 0u8;
                            for d in days {
                                if d > 6 {
                                    return Err(format!("bad weekday {d}"));
                                }
                                bits |= 1 << d;
                            }
                            if rs.zone.is_none() {
                                return Err(format!("{}: days_of_week without a zone", rs.name));
                            }
                            Condition::DaysOfWeek { days: bits }
                        }
                        ConditionDoc::LocalTime { start, end } => {
                            if rs.zone.is_none() {
                                return Err(format!("{}: local_time without a zone", rs.name));
                            }
                            if start >= 1440 || end >= 1440 {
                                return Err("local_time out of range".into());
                            }
                            Condition::LocalTime { start, end }
                        }
                        ConditionDoc::Expr {
                            source,
                            fields,
                            sized,
                        } => {
                            let program =
                                std::panic::catch_unwind(|| cel::Program::compile(&source))
                                    .map_err(|_| {
                                        format!("expr {source:?} does not compile (panic)")
                                    })?
                                    .map_err(|e| {
                                        format!("expr {source:?} does not compile: {e}")
                                    })?;
                            let fields = fields.map(|mut f| {
                                f.sort();
                                f.dedup();
                                f
                            });
                            let mut sized = sized;
                            sized.sort();
                            sized.dedup();
                            let wanted = Demand { fields, sized };
                            demand::covers(&wanted, program.expression(), SIZED_LISTS)
                                .map_err(|e| format!("expr {source:?}: {e}"))?;
                            let fieldset = match fieldsets.iter().position(|x| *x == wanted) {
                                Some(i) => i,
                                None => {
                                    fieldsets.push(wanted);
                                    fieldsets.len() - 1
                                }
                            };
                            Condition::Expr { program, fieldset }
                        }
                    });
                }
                let p = r.payout;
                let payout = Payout {
                    percent: match p.percent {
                        Some((a, b)) => Some(percent(a, b)?),
                        None => None,
                    },
                    fixed_minor: p.fixed_minor,
                    bands: p
                        .bands
                        .iter()
                        .map(|&(from, a, b)| percent(a, b).map(|q| (from, q)))
                        .collect::<Result<_, _>>()?,
                    max_minor: p.max_minor,
                    min_minor: p.min_minor,
                };
                let ways = payout.percent.is_some() as u32
                    + payout.fixed_minor.is_some() as u32
                    + !payout.bands.is_empty() as u32;
                if ways != 1 || !payout.bands.windows(2).all(|w| w[0].0 < w[1].0) {
                    return Err(format!("{}: rule {}: bad payout", rs.name, r.id));
                }
                let _ = r.categories; // candidates come through the category index
                rules.push(Rule {
                    id: r.id,
                    description: r.description,
                    skus: r.skus,
                    min_total: r.min_total,
                    conditions,
                    payout,
                });
            }
            let indexes = [
                &rs.candidates_by_category,
                &rs.by_sku,
                &rs.by_merchant,
                &rs.by_mcc,
            ];
            if !indexes.iter().all(|m| m.values().all(|v| ranks_ok(v, n)))
                || !ranks_ok(&rs.always, n)
            {
                return Err(format!("{}: bad rule index", rs.name));
            }
            rulesets.push(RuleSet {
                name: rs.name,
                version: rs.version,
                currencies: rs.currencies,
                rounding,
                combine,
                max_per_purchase_minor: rs.max_per_purchase_minor,
                hold_days: rs.hold_days,
                expires_days: rs.expires_days,
                notify_accrual: rs.notify_accrual,
                notify_reversal: rs.notify_reversal,
                zone: rs.zone,
                rules,
                candidates_by_category: fx(rs.candidates_by_category),
                always: rs.always,
                by_sku: fx(rs.by_sku),
                sku_sensitive: rs.sku_sensitive,
                by_merchant: fx(rs.by_merchant),
                by_mcc: fx(rs.by_mcc),
                order_indexed: rs.order_indexed,
            });
        }
        let nrs = rulesets.len();
        if !doc.in_force.iter().all(|v| v.iter().all(|&i| i < nrs)) {
            return Err("in_force index out of range".into());
        }
        Ok(Catalog {
            max_event_bytes: doc.max_event_bytes,
            starts_us: doc.starts_us,
            in_force: doc.in_force,
            zones,
            zone_valid_from: doc.zone_valid_from,
            zone_valid_until: doc.zone_valid_until,
            rulesets,
            fieldsets,
        })
    }

    /// Rule sets in force at `t_us` (catalog.py `Catalog.at`).
    pub fn at(&self, t_us: i64) -> &[usize] {
        let i = self.starts_us.partition_point(|&s| s <= t_us);
        &self.in_force[i]
    }

    /// UTC offset (seconds) of `zone` at `t` (UTC seconds), or None outside the table.
    pub fn offset(&self, zone: usize, t: i64) -> Option<i64> {
        if t < self.zone_valid_from || t >= self.zone_valid_until {
            return None;
        }
        let z = &self.zones[zone];
        let i = z.starts.partition_point(|&s| s <= t);
        if i == 0 {
            None
        } else {
            Some(z.offsets[i - 1])
        }
    }
}
