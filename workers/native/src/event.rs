//! Input events, decoded exactly as events.py's msgspec types decode them, or declined.

use std::borrow::Cow;

use crate::json::{chars, Decline, Reader, R};
use crate::time::DateTime;

pub const MAX_MINOR: u64 = (1 << 53) - 1;
const MAX_LINES: usize = 1000;
const MAX_SEGMENTS: usize = 64;

pub type Str<'a> = Cow<'a, str>;

#[derive(Debug)]
pub struct Line<'a> {
    pub sku: Str<'a>,
    pub category: Str<'a>,
    pub quantity: u64,
    pub amount: u64,
}

#[derive(Debug)]
pub struct Customer<'a> {
    pub id: Str<'a>,
    pub tier: Option<Str<'a>>,
    pub segments: Vec<Str<'a>>,
    pub locale: Option<Str<'a>>,
    pub notifications: bool,
}

#[derive(Debug)]
pub struct OriginalCustomer<'a> {
    pub tier: Option<Str<'a>>,
    pub segments: Vec<Str<'a>>,
}

#[derive(Debug)]
pub struct Merchant<'a> {
    pub id: Option<Str<'a>>,
    pub mcc: Option<Str<'a>>,
    pub region: Option<Str<'a>>,
}

#[derive(Debug)]
pub struct Purchase<'a> {
    pub event_id: Str<'a>,
    pub purchase_id: Str<'a>,
    pub occurred_at: DateTime,
    pub customer: Customer<'a>,
    pub currency: Str<'a>,
    pub total: u64,
    pub lines: Vec<Line<'a>>,
    pub merchant: Option<Merchant<'a>>,
    pub channel: Option<Str<'a>>,
    pub payment_method: Option<Str<'a>>,
}

#[derive(Debug)]
pub struct Original<'a> {
    pub occurred_at: DateTime,
    pub total: u64,
    pub lines: Vec<Line<'a>>,
    pub merchant: Option<Merchant<'a>>,
    pub channel: Option<Str<'a>>,
    pub payment_method: Option<Str<'a>>,
    pub customer: Option<OriginalCustomer<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct RefundLine {
    pub line: u64,
    pub amount: u64,
}

#[derive(Debug)]
pub struct Refund<'a> {
    pub event_id: Str<'a>,
    pub purchase_id: Str<'a>,
    pub occurred_at: DateTime,
    pub customer: Customer<'a>,
    pub currency: Str<'a>,
    pub original: Original<'a>,
    #[allow(dead_code)]
    pub refunded: Vec<RefundLine>,
    #[allow(dead_code)]
    pub previously: Vec<RefundLine>,
}

/// O - P and O - P - R (events.py `RefundAmounts`).
#[derive(Debug)]
pub struct RefundAmounts {
    pub before_lines: Vec<u64>,
    pub before_total: u64,
    pub after_lines: Vec<u64>,
    pub after_total: u64,
}

pub enum Event<'a> {
    Purchase(Purchase<'a>),
    Refund(Refund<'a>, RefundAmounts),
}

// ------------------------------------------------------------------ field types

fn id<'a>(r: &mut Reader<'a>) -> R<Str<'a>> {
    let s = r.string()?;
    let n = chars(&s);
    if n == 0 || n > 128 {
        return Err(Decline);
    }
    Ok(s)
}

fn text<'a>(r: &mut Reader<'a>) -> R<Str<'a>> {
    let s = r.string()?;
    if chars(&s) > 128 {
        return Err(Decline);
    }
    Ok(s)
}

fn opt_text<'a>(r: &mut Reader<'a>) -> R<Option<Str<'a>>> {
    if r.null()? {
        Ok(None)
    } else {
        text(r).map(Some)
    }
}

fn currency<'a>(r: &mut Reader<'a>) -> R<Str<'a>> {
    let s = r.string()?;
    let b = s.as_bytes();
    if b.len() == 3 && b.iter().all(|c| c.is_ascii_uppercase()) {
        Ok(s)
    } else {
        Err(Decline)
    }
}

fn mcc<'a>(r: &mut Reader<'a>) -> R<Option<Str<'a>>> {
    if r.null()? {
        return Ok(None);
    }
    let s = r.string()?;
    let b = s.as_bytes();
    if b.len() == 4 && b.iter().all(|c| c.is_ascii_digit()) {
        Ok(Some(s))
    } else {
        Err(Decline)
    }
}

/// `^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*\Z`, at most 35 characters.
fn locale<'a>(r: &mut Reader<'a>) -> R<Option<Str<'a>>> {
    if r.null()? {
        return Ok(None);
    }
    let s = r.string()?;
    let b = s.as_bytes();
    if b.len() > 35 {
        return Err(Decline);
    }
    let mut parts = b.split(|&c| c == b'-');
    let first = parts.next().unwrap_or(&[]);
    if first.len() < 2 || first.len() > 8 || !first.iter().all(|c| c.is_ascii_alphabetic()) {
        return Err(Decline);
    }
    for part in parts {
        if part.is_empty() || part.len() > 8 || !part.iter().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Decline);
        }
    }
    Ok(Some(s))
}

fn datetime(r: &mut Reader<'_>) -> R<DateTime> {
    let s = r.string()?;
    if let Cow::Owned(_) = s {
        return Err(Decline); // escapes in a timestamp: not worth the risk
    }
    DateTime::parse(&s)
}

fn segments<'a>(r: &mut Reader<'a>) -> R<Vec<Str<'a>>> {
    let mut out = Vec::new();
    r.array(|r| {
        if out.len() >= MAX_SEGMENTS {
            return Err(Decline);
        }
        out.push(text(r)?);
        Ok(())
    })?;
    Ok(out)
}

/// Marks a field as seen; a second occurrence declines (msgspec would keep the last).
#[inline]
fn seen(mask: &mut u32, bit: u32) -> R<()> {
    if *mask & bit != 0 {
        return Err(Decline);
    }
    *mask |= bit;
    Ok(())
}

fn customer<'a>(r: &mut Reader<'a>) -> R<Customer<'a>> {
    let mut mask = 0u32;
    let mut c = Customer {
        id: Cow::Borrowed(""),
        tier: None,
        segments: Vec::new(),
        locale: None,
        notifications: true,
    };
    r.object(|r, key| {
        match &*key {
            "id" => {
                seen(&mut mask, 1)?;
                c.id = id(r)?;
            }
            "tier" => {
                seen(&mut mask, 2)?;
                c.tier = opt_text(r)?;
            }
            "segments" => {
                seen(&mut mask, 4)?;
                c.segments = segments(r)?;
            }
            "locale" => {
                seen(&mut mask, 8)?;
                c.locale = locale(r)?;
            }
            "notifications" => {
                seen(&mut mask, 16)?;
                c.notifications = r.bool()?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if mask & 1 == 0 {
        return Err(Decline);
    }
    Ok(c)
}

fn original_customer<'a>(r: &mut Reader<'a>) -> R<Option<OriginalCustomer<'a>>> {
    if r.null()? {
        return Ok(None);
    }
    let mut mask = 0u32;
    let mut c = OriginalCustomer {
        tier: None,
        segments: Vec::new(),
    };
    r.object(|r, key| {
        match &*key {
            "id" => {
                seen(&mut mask, 1)?;
                if !r.null()? {
                    id(r)?;
                }
            }
            "tier" => {
                seen(&mut mask, 2)?;
                c.tier = opt_text(r)?;
            }
            "segments" => {
                seen(&mut mask, 4)?;
                c.segments = segments(r)?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Some(c))
}

fn merchant<'a>(r: &mut Reader<'a>) -> R<Option<Merchant<'a>>> {
    if r.null()? {
        return Ok(None);
    }
    let mut mask = 0u32;
    let mut m = Merchant {
        id: None,
        mcc: None,
        region: None,
    };
    r.object(|r, key| {
        match &*key {
            "id" => {
                seen(&mut mask, 1)?;
                m.id = opt_text(r)?;
            }
            "mcc" => {
                seen(&mut mask, 2)?;
                m.mcc = mcc(r)?;
            }
            "region" => {
                seen(&mut mask, 4)?;
                m.region = opt_text(r)?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Some(m))
}

fn line<'a>(r: &mut Reader<'a>) -> R<Line<'a>> {
    let mut mask = 0u32;
    let mut l = Line {
        sku: Cow::Borrowed(""),
        category: Cow::Borrowed(""),
        quantity: 0,
        amount: 0,
    };
    r.object(|r, key| {
        match &*key {
            "sku" => {
                seen(&mut mask, 1)?;
                l.sku = text(r)?;
            }
            "category" => {
                seen(&mut mask, 2)?;
                l.category = text(r)?;
            }
            "quantity" => {
                seen(&mut mask, 4)?;
                l.quantity = r.uint(MAX_MINOR)?;
                if l.quantity < 1 {
                    return Err(Decline);
                }
            }
            "amount_minor" => {
                seen(&mut mask, 8)?;
                l.amount = r.uint(MAX_MINOR)?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if mask != 15 {
        return Err(Decline);
    }
    Ok(l)
}

fn lines<'a>(r: &mut Reader<'a>) -> R<Vec<Line<'a>>> {
    let mut out = Vec::with_capacity(8);
    r.array(|r| {
        if out.len() >= MAX_LINES {
            return Err(Decline);
        }
        out.push(line(r)?);
        Ok(())
    })?;
    if out.is_empty() {
        return Err(Decline);
    }
    Ok(out)
}

fn refund_line(r: &mut Reader<'_>) -> R<RefundLine> {
    let mut mask = 0u32;
    let mut l = RefundLine { line: 0, amount: 0 };
    r.object(|r, key| {
        match &*key {
            "line" => {
                seen(&mut mask, 1)?;
                l.line = r.uint(MAX_LINES as u64 - 1)?;
            }
            "amount_minor" => {
                seen(&mut mask, 2)?;
                l.amount = r.uint(MAX_MINOR)?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if mask != 3 {
        return Err(Decline);
    }
    Ok(l)
}

fn refund_lines(r: &mut Reader<'_>) -> R<Vec<RefundLine>> {
    let mut out = Vec::new();
    r.array(|r| {
        if out.len() >= MAX_LINES {
            return Err(Decline);
        }
        out.push(refund_line(r)?);
        Ok(())
    })?;
    Ok(out)
}

fn original<'a>(r: &mut Reader<'a>) -> R<Original<'a>> {
    let mut mask = 0u32;
    let mut occurred_at = None;
    let mut total = 0;
    let mut lns = Vec::new();
    let mut merch = None;
    let mut channel = None;
    let mut payment_method = None;
    let mut cust = None;
    r.object(|r, key| {
        match &*key {
            "occurred_at" => {
                seen(&mut mask, 1)?;
                occurred_at = Some(datetime(r)?);
            }
            "total_minor" => {
                seen(&mut mask, 2)?;
                total = r.uint(MAX_MINOR)?;
            }
            "lines" => {
                seen(&mut mask, 4)?;
                lns = lines(r)?;
            }
            "merchant" => {
                seen(&mut mask, 8)?;
                merch = merchant(r)?;
            }
            "channel" => {
                seen(&mut mask, 16)?;
                channel = opt_text(r)?;
            }
            "payment_method" => {
                seen(&mut mask, 32)?;
                payment_method = opt_text(r)?;
            }
            "customer" => {
                seen(&mut mask, 64)?;
                cust = original_customer(r)?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if mask & 7 != 7 {
        return Err(Decline);
    }
    Ok(Original {
        occurred_at: occurred_at.ok_or(Decline)?,
        total,
        lines: lns,
        merchant: merch,
        channel,
        payment_method,
        customer: cust,
    })
}

// ------------------------------------------------------------------ the event

const F_TYPE: u32 = 1;
const F_EVENT_ID: u32 = 1 << 1;
const F_PURCHASE_ID: u32 = 1 << 2;
const F_OCCURRED_AT: u32 = 1 << 3;
const F_CUSTOMER: u32 = 1 << 4;
const F_CURRENCY: u32 = 1 << 5;
const F_TOTAL: u32 = 1 << 6;
const F_LINES: u32 = 1 << 7;
const F_MERCHANT: u32 = 1 << 8;
const F_CHANNEL: u32 = 1 << 9;
const F_PAYMENT: u32 = 1 << 10;
const F_ORIGINAL: u32 = 1 << 11;
const F_REFUNDED: u32 = 1 << 12;
const F_PREVIOUSLY: u32 = 1 << 13;

const PURCHASE_REQUIRED: u32 = F_TYPE
    | F_EVENT_ID
    | F_PURCHASE_ID
    | F_OCCURRED_AT
    | F_CUSTOMER
    | F_CURRENCY
    | F_TOTAL
    | F_LINES;
const REFUND_REQUIRED: u32 = F_TYPE
    | F_EVENT_ID
    | F_PURCHASE_ID
    | F_OCCURRED_AT
    | F_CUSTOMER
    | F_CURRENCY
    | F_ORIGINAL
    | F_REFUNDED;

/// Decodes one event (`raw` already checked as UTF-8 and within the size limit).
/// Fields of the other event type are read as strictly as their own (a stricter reading
/// than msgspec's, which ignores them: it can only decline more).
pub fn decode(raw: &str) -> R<Event<'_>> {
    let mut r = Reader::new(raw);
    let mut mask = 0u32;
    let mut is_refund = false;
    let mut event_id = Cow::Borrowed("");
    let mut purchase_id = Cow::Borrowed("");
    let mut occurred_at = None;
    let mut cust = None;
    let mut cur = Cow::Borrowed("");
    let mut total = 0;
    let mut lns = Vec::new();
    let mut merch = None;
    let mut channel = None;
    let mut payment_method = None;
    let mut orig = None;
    let mut refunded = Vec::new();
    let mut previously = Vec::new();
    r.object(|r, key| {
        match &*key {
            "type" => {
                seen(&mut mask, F_TYPE)?;
                let tag = r.string()?;
                is_refund = match &*tag {
                    "purchase" => false,
                    "refund" => true,
                    _ => return Err(Decline),
                };
            }
            "event_id" => {
                seen(&mut mask, F_EVENT_ID)?;
                event_id = id(r)?;
            }
            "purchase_id" => {
                seen(&mut mask, F_PURCHASE_ID)?;
                purchase_id = id(r)?;
            }
            "occurred_at" => {
                seen(&mut mask, F_OCCURRED_AT)?;
                occurred_at = Some(datetime(r)?);
            }
            "customer" => {
                seen(&mut mask, F_CUSTOMER)?;
                cust = Some(customer(r)?);
            }
            "currency" => {
                seen(&mut mask, F_CURRENCY)?;
                cur = currency(r)?;
            }
            "total_minor" => {
                seen(&mut mask, F_TOTAL)?;
                total = r.uint(MAX_MINOR)?;
            }
            "lines" => {
                seen(&mut mask, F_LINES)?;
                lns = lines(r)?;
            }
            "merchant" => {
                seen(&mut mask, F_MERCHANT)?;
                merch = merchant(r)?;
            }
            "channel" => {
                seen(&mut mask, F_CHANNEL)?;
                channel = opt_text(r)?;
            }
            "payment_method" => {
                seen(&mut mask, F_PAYMENT)?;
                payment_method = opt_text(r)?;
            }
            "original" => {
                seen(&mut mask, F_ORIGINAL)?;
                orig = Some(original(r)?);
            }
            "refunded_lines" => {
                seen(&mut mask, F_REFUNDED)?;
                refunded = refund_lines(r)?;
                if refunded.is_empty() {
                    return Err(Decline);
                }
            }
            "previously_refunded_lines" => {
                seen(&mut mask, F_PREVIOUSLY)?;
                previously = refund_lines(r)?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    if !is_refund {
        if mask & PURCHASE_REQUIRED != PURCHASE_REQUIRED {
            return Err(Decline);
        }
        let mut sum: u64 = 0;
        for l in &lns {
            sum += l.amount; // each <= 2^53 - 1, at most 1000 of them: no u64 overflow
        }
        if sum > MAX_MINOR {
            return Err(Decline);
        }
        return Ok(Event::Purchase(Purchase {
            event_id,
            purchase_id,
            occurred_at: occurred_at.ok_or(Decline)?,
            customer: cust.ok_or(Decline)?,
            currency: cur,
            total,
            lines: lns,
            merchant: merch,
            channel,
            payment_method,
        }));
    }
    if mask & REFUND_REQUIRED != REFUND_REQUIRED {
        return Err(Decline);
    }
    let original = orig.ok_or(Decline)?;
    let sum: u64 = original.lines.iter().map(|l| l.amount).sum();
    if sum > MAX_MINOR {
        return Err(Decline);
    }
    let amounts = refund_amounts(&original, &previously, &refunded)?;
    Ok(Event::Refund(
        Refund {
            event_id,
            purchase_id,
            occurred_at: occurred_at.ok_or(Decline)?,
            customer: cust.ok_or(Decline)?,
            currency: cur,
            original,
            refunded,
            previously,
        },
        amounts,
    ))
}

/// events.py `refund_amounts`: a missing line or more returned than remains declines
/// (Python dead-letters it as refund_mismatch).
fn refund_amounts(
    original: &Original<'_>,
    previously: &[RefundLine],
    refunded: &[RefundLine],
) -> R<RefundAmounts> {
    let mut lines: Vec<u64> = original.lines.iter().map(|l| l.amount).collect();
    let total = subtract(previously, &mut lines, original.total)?;
    let before_lines = lines.clone();
    let after_total = subtract(refunded, &mut lines, total)?;
    Ok(RefundAmounts {
        before_lines,
        before_total: total,
        after_lines: lines,
        after_total,
    })
}

fn subtract(entries: &[RefundLine], lines: &mut [u64], mut total: u64) -> R<u64> {
    for e in entries {
        let i = e.line as usize;
        if i >= lines.len() || e.amount > lines[i] || e.amount > total {
            return Err(Decline);
        }
        lines[i] -= e.amount;
        total -= e.amount;
    }
    Ok(total)
}
