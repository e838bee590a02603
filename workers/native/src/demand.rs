//! What of `purchase` a CEL expression can reach (cel.py `Demand`), and a check of the
//! spec's claim against the expression's real AST: the spec (written by Python from its
//! token analysis) may build more than the AST needs, never less.

use cel::common::ast::{EntryExpr, Expr};
use cel::IdedExpr;

/// `fields` None: the whole purchase; `sized` (a subset of `fields`): lists read only
/// through `size()`, built as that many nulls.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Demand {
    pub fields: Option<Vec<String>>,
    pub sized: Vec<String>,
}

impl Demand {
    pub fn wants(&self, field: &str) -> bool {
        self.fields
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == field))
    }

    pub fn sized(&self, field: &str) -> bool {
        self.sized.iter().any(|x| x == field)
    }
}

/// What the AST reads: `Err(())` for the whole purchase, else (fields read, of which
/// those read only as `size(purchase.f)` / `purchase.f.size()`).
#[derive(Default)]
struct Reach {
    fields: Vec<String>,
    whole: Vec<String>,
}

pub fn reach(expr: &IdedExpr) -> Result<(Vec<String>, Vec<String>), ()> {
    let mut r = Reach::default();
    walk(expr, &mut r)?;
    let sized = r
        .fields
        .iter()
        .filter(|f| !r.whole.contains(f))
        .cloned()
        .collect();
    Ok((r.fields, sized))
}

/// `purchase.<field>` when `e` is exactly that.
fn purchase_field(e: &IdedExpr) -> Option<&str> {
    match &e.expr {
        Expr::Select(s) if !s.test => match &s.operand.expr {
            Expr::Ident(name) if name == "purchase" => Some(&s.field),
            _ => None,
        },
        _ => None,
    }
}

fn add(list: &mut Vec<String>, field: &str) {
    if !list.iter().any(|x| x == field) {
        list.push(field.to_string());
    }
}

fn walk(e: &IdedExpr, r: &mut Reach) -> Result<(), ()> {
    match &e.expr {
        Expr::Ident(name) if name == "purchase" => Err(()),
        Expr::Select(s) => match &s.operand.expr {
            Expr::Ident(name) if name == "purchase" => {
                add(&mut r.fields, &s.field);
                add(&mut r.whole, &s.field);
                Ok(())
            }
            _ => walk(&s.operand, r),
        },
        Expr::Call(c) => {
            let sized = if c.func_name == "size" {
                match (&c.target, c.args.as_slice()) {
                    (None, [only]) => purchase_field(only),
                    (Some(target), []) => purchase_field(target),
                    _ => None,
                }
            } else {
                None
            };
            if let Some(field) = sized {
                add(&mut r.fields, field);
                return Ok(());
            }
            if let Some(t) = &c.target {
                walk(t, r)?;
            }
            c.args.iter().try_for_each(|a| walk(a, r))
        }
        Expr::Comprehension(c) => {
            // A macro variable named `purchase` would shadow the activation: give up.
            if c.iter_var == "purchase"
                || c.accu_var == "purchase"
                || c.iter_var2.as_deref() == Some("purchase")
            {
                return Err(());
            }
            walk(&c.iter_range, r)?;
            walk(&c.accu_init, r)?;
            walk(&c.loop_cond, r)?;
            walk(&c.loop_step, r)?;
            walk(&c.result, r)
        }
        Expr::List(l) => l.elements.iter().try_for_each(|x| walk(x, r)),
        Expr::Map(m) => m.entries.iter().try_for_each(|x| entry(&x.expr, r)),
        Expr::Struct(s) => s.entries.iter().try_for_each(|x| entry(&x.expr, r)),
        Expr::Ident(_) | Expr::Literal(_) => Ok(()),
        Expr::Unspecified => Err(()),
    }
}

fn entry(e: &EntryExpr, r: &mut Reach) -> Result<(), ()> {
    match e {
        EntryExpr::StructField(f) => walk(&f.value, r),
        EntryExpr::MapEntry(m) => {
            walk(&m.key, r)?;
            walk(&m.value, r)
        }
    }
}

/// Ok when building `claimed` gives the expression everything its AST can read.
pub fn covers(claimed: &Demand, expr: &IdedExpr, sizable: &[&str]) -> Result<(), String> {
    if claimed.sized.iter().any(|f| !sizable.contains(&f.as_str())) {
        return Err("sized names a field that is not a list".into());
    }
    if let Some(f) = &claimed.fields {
        if claimed.sized.iter().any(|s| !f.contains(s)) {
            return Err("sized names a field outside fields".into());
        }
    }
    let Some(claimed_fields) = &claimed.fields else {
        return if claimed.sized.is_empty() {
            Ok(())
        } else {
            Err("sized without fields".into())
        };
    };
    let (fields, sized) =
        reach(expr).map_err(|_| "the expression reads `purchase` whole".to_string())?;
    if let Some(f) = fields.iter().find(|f| !claimed_fields.contains(f)) {
        return Err(format!("the expression reads purchase.{f}"));
    }
    if let Some(f) = claimed.sized.iter().find(|f| !sized.contains(f)) {
        return Err(format!("the expression reads more than size(purchase.{f})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach_of(src: &str) -> Result<(Vec<String>, Vec<String>), ()> {
        let p = cel::Program::compile(src).unwrap();
        reach(p.expression()).map(|(mut f, mut s)| {
            f.sort();
            s.sort();
            (f, s)
        })
    }

    fn v(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reach_table() {
        let table: &[(&str, Option<(&[&str], &[&str])>)] = &[
            ("size(purchase.lines) >= 3", Some((&["lines"], &["lines"]))),
            ("purchase.lines.size() >= 3", Some((&["lines"], &["lines"]))),
            (
                "purchase.lines.exists(l, l.sku == 'a')",
                Some((&["lines"], &[])),
            ),
            (
                "size(purchase.lines) > 0 && purchase.lines[0].quantity > 1",
                Some((&["lines"], &[])),
            ),
            ("has(purchase.lines)", Some((&["lines"], &[]))),
            (
                "purchase.customer.tier == 'gold'",
                Some((&["customer"], &[])),
            ),
            ("size(purchase)", None),
            ("purchase == {}", None),
            ("[purchase].size() > 0", None),
            ("purchase.lines.exists(purchase, purchase.sku == 'a')", None),
            ("type(purchase.lines) == list", Some((&["lines"], &[]))),
        ];
        for (src, want) in table {
            let got = reach_of(src);
            match want {
                None => assert!(got.is_err(), "{src}"),
                Some((f, s)) => assert_eq!(got, Ok((v(f), v(s))), "{src}"),
            }
        }
    }

    #[test]
    fn covers_refuses_a_narrower_claim() {
        let p = cel::Program::compile("purchase.lines.exists(l, l.sku == 'a')").unwrap();
        let claim = Demand {
            fields: Some(v(&["lines"])),
            sized: v(&["lines"]),
        };
        assert!(covers(&claim, p.expression(), &["lines"]).is_err());
        let full = Demand {
            fields: Some(v(&["lines"])),
            sized: vec![],
        };
        assert!(covers(&full, p.expression(), &["lines"]).is_ok());
    }
}
