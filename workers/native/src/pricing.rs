//! pricing.py `price`, money.py and the rule conditions, ported line by line.

use std::borrow::Cow;

use cel::Context;

use crate::event::Line;
use crate::facts::Facts;
use crate::fxhash::SmallMap;
use crate::json::R;
use crate::spec::{Catalog, Combine, Condition, Field, Payout, Percent, Rounding, Rule, RuleSet};

/// money.py `divide`: a non-negative numerator by a positive denominator, rounded once.
pub fn divide(numerator: u128, denominator: u128, rounding: Rounding) -> u128 {
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if rounding == Rounding::Down || remainder == 0 {
        return quotient;
    }
    let twice = 2 * remainder;
    if twice > denominator {
        return quotient + 1;
    }
    if twice < denominator {
        return quotient;
    }
    if rounding == Rounding::HalfUp {
        return quotient + 1;
    }
    quotient + (quotient & 1)
}

/// `Percent.of`: base * num / (100 * den).
fn percent_of(p: Percent, base: u64, rounding: Rounding) -> u64 {
    divide(base as u128 * p.num as u128, 100 * p.den as u128, rounding) as u64
}

const ZERO: Percent = Percent { num: 0, den: 1 };

impl Payout {
    fn raw(&self, base: u64, rounding: Rounding) -> u64 {
        if let Some(p) = self.percent {
            return percent_of(p, base, rounding);
        }
        if let Some(f) = self.fixed_minor {
            return f;
        }
        if self.bands.is_empty() {
            return 0;
        }
        let mut chosen = ZERO;
        for &(start, p) in &self.bands {
            if start > base {
                break;
            }
            chosen = p;
        }
        percent_of(chosen, base, rounding)
    }

    fn limit(&self, raw: u64) -> u64 {
        let amount = match self.max_minor {
            Some(m) if raw > m => m,
            _ => raw,
        };
        match self.min_minor {
            Some(m) if amount < m => 0,
            _ => amount,
        }
    }
}

/// Everything a condition needs besides the facts.
pub struct Env<'c> {
    pub catalog: &'c Catalog,
    pub cel: &'c Context<'c>,
}

fn read<'e>(facts: &Facts<'e, '_, '_>, field: Field) -> Option<&'e str> {
    match field {
        Field::Mcc => facts.mcc,
        Field::Merchant => facts.merchant,
        Field::Region => facts.region,
        Field::Channel => facts.channel,
        Field::PaymentMethod => facts.payment_method,
        Field::Tier => facts.tier,
    }
}

/// rules.py `Rule.order_holds`: min total first, then the conditions in order.
fn order_holds<'c>(
    rule: &Rule,
    rs: &RuleSet,
    env: &Env<'c>,
    facts: &mut Facts<'_, '_, 'c>,
    total: u64,
) -> R<bool> {
    if let Some(m) = rule.min_total {
        if total < m {
            return Ok(false);
        }
    }
    for c in &rule.conditions {
        let holds = match c {
            Condition::OneOf { field, allowed } => match read(facts, *field) {
                Some(v) => allowed.iter().any(|a| a == v),
                None => false,
            },
            Condition::Segments { allowed } => facts
                .segments
                .iter()
                .any(|s| allowed.iter().any(|a| a == s)),
            Condition::DaysOfWeek { days } => {
                let zone = rs.zone.ok_or(crate::json::Decline)?;
                let (weekday, _) = facts.local(env.catalog, zone)?;
                days & (1 << weekday) != 0
            }
            Condition::LocalTime { start, end } => {
                let zone = rs.zone.ok_or(crate::json::Decline)?;
                let (_, minute) = facts.local(env.catalog, zone)?;
                if start < end {
                    *start <= minute && minute < *end
                } else {
                    minute >= *start || minute < *end
                }
            }
            Condition::Expr { program, fieldset } => {
                facts.expr(env.cel, env.catalog, program, *fieldset)?
            }
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

#[derive(Clone, Copy, Debug)]
pub struct RuleResult {
    pub rank: usize,
    pub base: u64,
    pub amount: u64,
    pub paid: u64,
}

#[derive(Debug, Default)]
pub struct Price {
    pub paying: Vec<RuleResult>,
    pub amount: i128,
    pub base: i128,
}

fn merge<'x>(left: Cow<'x, [usize]>, right: &'x [usize]) -> Cow<'x, [usize]> {
    if right.is_empty() {
        return left;
    }
    if left.is_empty() {
        return Cow::Borrowed(right);
    }
    let mut v: Vec<usize> = left.iter().chain(right.iter()).copied().collect();
    v.sort_unstable();
    v.dedup();
    Cow::Owned(v)
}

fn order_candidates<'x>(rs: &'x RuleSet, facts: &Facts<'_, '_, '_>) -> Cow<'x, [usize]> {
    let mut found: Cow<'x, [usize]> = Cow::Borrowed(&[]);
    if let Some(m) = facts.merchant {
        if let Some(v) = rs.by_merchant.get(m) {
            found = Cow::Borrowed(v);
        }
    }
    if let Some(m) = facts.mcc {
        if let Some(v) = rs.by_mcc.get(m) {
            found = merge(found, v);
        }
    }
    found
}

/// pricing.py `price`: cashback of one order view under `rs` (currency already checked).
pub fn price<'c>(
    rs: &RuleSet,
    env: &Env<'c>,
    facts: &mut Facts<'_, '_, 'c>,
    lines: &[Line<'_>],
    amounts: &[u64],
    total: u64,
) -> R<Price> {
    let rules = &rs.rules;
    let extra: Cow<[usize]> = if rs.order_indexed {
        order_candidates(rs, facts)
    } else {
        Cow::Borrowed(&[])
    };
    if rs.always.is_empty()
        && extra.is_empty()
        && !lines.iter().any(|l| {
            rs.candidates_by_category.contains_key(&*l.category) || rs.by_sku.contains_key(&*l.sku)
        })
    {
        return Ok(Price::default());
    }
    let first = rs.combine == Combine::First;
    let stack = rs.combine == Combine::Stack;
    let per_sku = rs.sku_sensitive;
    let mut memo: SmallMap<usize, bool> = SmallMap::new();
    // key -> index into `holdings`
    let mut holding_by_key: SmallMap<(&str, &str), usize> = SmallMap::new();
    let mut holdings: Vec<Vec<usize>> = Vec::new();
    let mut line_holding: Vec<usize> = Vec::new();
    let mut bases: SmallMap<usize, u64> = SmallMap::new();
    for (index, line) in lines.iter().enumerate() {
        let category: &str = &line.category;
        let sku: &str = &line.sku;
        let key = (category, if per_sku { sku } else { "" });
        let h = match holding_by_key.get(&key) {
            Some(&h) => h,
            None => {
                let mut ranks: Cow<[usize]> = match rs.candidates_by_category.get(category) {
                    Some(v) => Cow::Borrowed(v),
                    None => Cow::Borrowed(&rs.always),
                };
                if !rs.by_sku.is_empty() {
                    if let Some(v) = rs.by_sku.get(sku) {
                        ranks = merge(ranks, v);
                    }
                }
                if !extra.is_empty() {
                    ranks = merge(ranks, &extra);
                }
                let mut found = Vec::new();
                for &rank in ranks.iter() {
                    let rule = &rules[rank];
                    let held = match memo.get(&rank) {
                        Some(&b) => b,
                        None => {
                            let b = order_holds(rule, rs, env, facts, total)?;
                            memo.insert_new(rank, b);
                            b
                        }
                    };
                    let sku_ok = match &rule.skus {
                        None => true,
                        Some(skus) => skus.iter().any(|s| s == sku),
                    };
                    if held && sku_ok {
                        found.push(rank);
                        if first {
                            break;
                        }
                    }
                }
                holdings.push(found);
                holding_by_key.insert_new(key, holdings.len() - 1);
                holdings.len() - 1
            }
        };
        let amount = amounts[index];
        for &rank in &holdings[h] {
            match bases.get_mut(&rank) {
                Some(b) => *b += amount,
                None => bases.insert_new(rank, amount),
            }
        }
        if stack {
            line_holding.push(h);
        }
    }

    let mut ranked: Vec<(usize, u64)> = bases.into_entries();
    ranked.sort_unstable_by_key(|e| e.0);
    let mut results: Vec<RuleResult> = Vec::with_capacity(ranked.len());
    for (rank, base) in ranked {
        if base == 0 {
            continue; // only lines with money in them qualify a rule
        }
        let payout = &rules[rank].payout;
        let raw = payout.raw(base, rs.rounding);
        results.push(RuleResult {
            rank,
            base,
            amount: payout.limit(raw),
            paid: 0,
        });
    }
    if results.is_empty() {
        return Ok(Price::default());
    }

    let chosen: Vec<RuleResult> = if rs.combine == Combine::Best {
        let mut winner = results[0];
        for r in &results {
            if r.amount > winner.amount {
                winner = *r;
            }
        }
        if winner.amount > 0 {
            vec![winner]
        } else {
            vec![]
        }
    } else {
        results.iter().filter(|r| r.amount > 0).copied().collect()
    };

    let mut budget = rs.max_per_purchase_minor;
    let mut paying = Vec::with_capacity(chosen.len());
    let mut amount: i128 = 0;
    let mut base: i128 = 0;
    for mut r in chosen {
        let paid = match budget {
            None => r.amount,
            Some(b) => r.amount.min(b),
        };
        if paid > 0 {
            r.paid = paid;
            paying.push(r);
            amount += paid as i128;
            base += r.base as i128;
            if let Some(b) = budget.as_mut() {
                *b -= paid;
            }
        }
    }
    if stack && paying.len() > 1 {
        // With `stack`, a line in several paying rules' bases counts once.
        let ranks: Vec<usize> = paying.iter().map(|r| r.rank).collect();
        let mut union: i128 = 0;
        for (index, &h) in line_holding.iter().enumerate() {
            if holdings[h].iter().any(|r| ranks.contains(r)) {
                union += amounts[index] as i128;
            }
        }
        base = union;
    }
    Ok(Price {
        paying,
        amount,
        base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divide_as_money_py() {
        let mut found = Vec::new();
        for r in [Rounding::Down, Rounding::HalfUp, Rounding::HalfEven] {
            for n in [2u128, 6, 10, 9, 11] {
                found.push(divide(n, 4, r));
            }
        }
        assert_eq!(found, [0, 1, 2, 2, 2, 1, 2, 3, 2, 3, 0, 2, 2, 2, 3]);
    }

    #[test]
    fn percent_of_large_bases() {
        // 2^53 - 1 at 99.999999 % (num 99999999, den 10^6): exact in u128
        let p = Percent {
            num: 99_999_999,
            den: 1_000_000,
        };
        let base = (1u64 << 53) - 1;
        let exact = (base as u128 * 99_999_999) / 100_000_000;
        assert_eq!(percent_of(p, base, Rounding::Down) as u128, exact);
    }
}
