//! One call per batch: the consumed records in; what the producer needs out (topic, key,
//! value, headers per output, in input order) and the batch's counts for the metrics.
//!
//! The same contract as cashback.domain.batch `price_records` (the Python reference):
//! every record this engine is not sure about goes to `fallback(record, requests)`, which
//! prices it the reference way and appends its requests in place, so order is kept.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::engine::{self, ACCRUED, NOT_ELIGIBLE, REVERSED};
use crate::Engine;

/// Header items every output shares, made once per engine.
pub struct Headers {
    content_type: Py<PyTuple>,
    accrual_schema: Py<PyTuple>,
    notification_schema: Py<PyTuple>,
    event_id: Py<PyString>,
    traceparent: Py<PyString>,
}

impl Headers {
    pub fn new(py: Python<'_>) -> PyResult<Self> {
        let item = |name: &str, value: &[u8]| -> PyResult<Py<PyTuple>> {
            let name = PyString::intern(py, name);
            Ok(PyTuple::new(py, [name.as_any(), PyBytes::new(py, value).as_any()])?.unbind())
        };
        Ok(Headers {
            content_type: item("content-type", b"application/json")?,
            accrual_schema: item("schema", b"accrual/v1")?,
            notification_schema: item("schema", b"notification/v1")?,
            event_id: PyString::intern(py, "event_id").unbind(),
            traceparent: PyString::intern(py, "traceparent").unbind(),
        })
    }
}

/// Accruals (or reversals) of one (currency, rule set version, kind): how many, and the
/// credits and debits apart (None when there were none: the reference has no such key).
struct AccrualCount {
    currency: String,
    ruleset: usize,
    reversal: bool,
    n: u64,
    credit: Option<i128>,
    debit: Option<i128>,
}

/// The counts of the records priced here (the fallback counts its own).
#[derive(Default)]
struct Counts {
    events: u64,
    outcomes: [u64; 3],
    consumed: Vec<(String, u64)>,
    accruals: Vec<AccrualCount>,
    purchases: Vec<(String, u128)>,
    earning: Vec<(String, usize, u128)>,
    written: [u64; 2],
    latest_us: Option<i64>,
}

/// What a priced record adds to the counts, owned (the event it came from is gone).
struct Priced<'py> {
    requests: Vec<Bound<'py, PyTuple>>,
    outcome: u8,
    currency: String,
    tallies: Vec<(usize, bool, i64)>,
    purchase_minor: u64,
    event_time_us: i64,
    notifications: u64,
}

/// The entry `matches` finds, made by `make` when there is none (a batch has a handful of
/// distinct label sets: a scan beats hashing).
fn slot<V>(found: &mut Vec<V>, matches: impl Fn(&V) -> bool, make: impl FnOnce() -> V) -> &mut V {
    let i = match found.iter().position(matches) {
        Some(i) => i,
        None => {
            found.push(make());
            found.len() - 1
        }
    };
    &mut found[i]
}

impl Counts {
    fn add(&mut self, topic: &str, p: &Priced<'_>) {
        self.events += 1;
        self.outcomes[p.outcome as usize] += 1;
        slot(
            &mut self.consumed,
            |(t, _)| t == topic,
            || (topic.to_owned(), 0),
        )
        .1 += 1;
        let outputs = p.requests.len() as u64;
        self.written[0] += outputs - p.notifications;
        self.written[1] += p.notifications;
        for &(ruleset, reversal, amount) in &p.tallies {
            let c = slot(
                &mut self.accruals,
                |c| c.ruleset == ruleset && c.reversal == reversal && c.currency == p.currency,
                || AccrualCount {
                    currency: p.currency.clone(),
                    ruleset,
                    reversal,
                    n: 0,
                    credit: None,
                    debit: None,
                },
            );
            c.n += 1;
            // Counters only go up: credits and debits are summed apart.
            if amount >= 0 {
                *c.credit.get_or_insert(0) += amount as i128;
            } else {
                *c.debit.get_or_insert(0) -= amount as i128;
            }
            if p.purchase_minor != 0 {
                slot(
                    &mut self.earning,
                    |(cur, rs, _)| *rs == ruleset && *cur == p.currency,
                    || (p.currency.clone(), ruleset, 0),
                )
                .2 += p.purchase_minor as u128;
            }
        }
        if p.purchase_minor != 0 {
            slot(
                &mut self.purchases,
                |(cur, _)| *cur == p.currency,
                || (p.currency.clone(), 0),
            )
            .1 += p.purchase_minor as u128;
        }
        if self.latest_us.is_none_or(|t| p.event_time_us > t) {
            self.latest_us = Some(p.event_time_us);
        }
    }
}

/// What pricing one value gave, owned: made without the GIL, turned into Python objects
/// after it. `None` is "not mine": the reference prices the record.
struct Answer {
    outcome: u8,
    outputs: Vec<engine::Output>,
    tallies: Vec<engine::Tally>,
    event_id: String,
    currency: String,
    customer_id: String,
    purchase_minor: u64,
    event_time_us: i64,
}

/// Below this many records a second pricing thread costs more than it saves.
const PARALLEL_FROM: usize = 256;

/// `(requests, events, outcomes, consumed, accruals, purchases, earning, written_accruals,
/// written_notifications, latest_event_us)`; see cashback.domain.batch `fold_native`.
///
/// Three passes: the values are read (GIL held); priced with the GIL released, on
/// `threads` threads (0: as many as the process may use, at most 2); then, in input
/// order, each answer becomes its request tuples and counts, or goes to `fallback`.
#[allow(clippy::too_many_arguments)]
pub fn price_batch<'py>(
    engine: &Engine,
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    accruals: &Bound<'py, PyString>,
    notifications: &Bound<'py, PyString>,
    fallback: &Bound<'py, PyAny>,
    threads: usize,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut consumed = Vec::new();
    let mut values = Vec::new();
    for record in records.try_iter()? {
        let record = record?;
        values.push(
            record
                .call_method0(intern!(py, "value"))?
                .cast_into::<PyBytes>()
                .ok(),
        );
        consumed.push(record);
    }
    let max = engine.catalog.max_event_bytes;
    let texts: Vec<Option<&str>> = values
        .iter()
        .map(|v| {
            let data = v.as_ref()?.as_bytes();
            if data.is_empty() || data.len() as u64 > max {
                return None;
            }
            std::str::from_utf8(data).ok()
        })
        .collect();
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
        n => n,
    };
    // Decoding, pricing and encoding touch no Python object: other Python threads (the
    // rules compile) run meanwhile.
    let answers = py.detach(|| price_all(engine, &texts, threads));
    let requests = PyList::empty(py);
    let mut counts = Counts::default();
    let topics = [accruals, notifications];
    for (record, answer) in consumed.iter().zip(answers) {
        let built = match answer {
            Some(answer) => build(engine, py, record, topics, answer)?,
            None => None,
        };
        match built {
            Some(priced) => {
                let topic = record.call_method0(intern!(py, "topic"))?;
                let topic = if topic.is_none() {
                    ""
                } else {
                    topic.cast::<PyString>()?.to_str()?
                };
                counts.add(topic, &priced);
                for request in priced.requests {
                    requests.append(request)?;
                }
            }
            None => {
                fallback.call1((record, &requests))?;
            }
        }
    }
    result(engine, py, requests, counts)
}

fn price_all(engine: &Engine, texts: &[Option<&str>], threads: usize) -> Vec<Option<Answer>> {
    let price = |part: &[Option<&str>]| -> Vec<Option<Answer>> {
        part.iter()
            .map(|t| t.and_then(|t| answer(engine, t)))
            .collect()
    };
    if threads < 2 || texts.len() < PARALLEL_FROM {
        return price(texts);
    }
    let (first, second) = texts.split_at(texts.len() / 2);
    std::thread::scope(|scope| {
        let helper = scope.spawn(|| price(second));
        let mut answers = price(first);
        // `answer` catches its own panics; a helper that died anyway leaves its half to
        // the reference.
        answers.extend(
            helper
                .join()
                .unwrap_or_else(|_| second.iter().map(|_| None).collect()),
        );
        answers
    })
}

/// One value decoded, priced and encoded, or None (declined; a panic included: a bug in
/// this engine must only send the record to the reference, see lib.rs `handle`).
fn answer(engine: &Engine, text: &str) -> Option<Answer> {
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine::handle(&engine.catalog, &engine.cel, text, |h| Answer {
            outcome: h.outcome,
            outputs: h.outputs,
            tallies: h.tallies,
            event_id: h.event_id.to_owned(),
            currency: h.currency.to_owned(),
            customer_id: h.customer_id.to_owned(),
            purchase_minor: h.purchase_minor,
            event_time_us: h.event_time_us,
        })
    }));
    found.ok()?.ok()
}

/// The record's request tuples and what it adds to the counts; None when its headers
/// are not plain pairs (the reference then handles the record).
fn build<'py>(
    engine: &Engine,
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    topics: [&Bound<'py, PyString>; 2],
    h: Answer,
) -> PyResult<Option<Priced<'py>>> {
    let mut requests = Vec::with_capacity(h.outputs.len());
    let mut notifications = 0;
    if !h.outputs.is_empty() {
        let fixed = &engine.headers;
        let Some(traceparent) = traceparent(py, record, fixed)? else {
            return Ok(None);
        };
        let key = PyBytes::new(py, h.customer_id.as_bytes());
        let event_id = PyTuple::new(
            py,
            [
                fixed.event_id.bind(py).as_any(),
                PyBytes::new(py, h.event_id.as_bytes()).as_any(),
            ],
        )?;
        for o in &h.outputs {
            let (topic, schema) = if o.notification {
                notifications += 1;
                (topics[1], &fixed.notification_schema)
            } else {
                (topics[0], &fixed.accrual_schema)
            };
            let headers = PyList::new(
                py,
                [
                    fixed.content_type.bind(py).as_any(),
                    schema.bind(py).as_any(),
                    event_id.as_any(),
                ],
            )?;
            if let Some(t) = &traceparent {
                headers.append(t)?;
            }
            let value = PyBytes::new(py, &o.value);
            requests.push(PyTuple::new(
                py,
                [
                    topic.as_any(),
                    key.as_any(),
                    value.as_any(),
                    headers.as_any(),
                ],
            )?);
        }
    }
    debug_assert!(matches!(h.outcome, ACCRUED | REVERSED | NOT_ELIGIBLE));
    Ok(Some(Priced {
        requests,
        outcome: h.outcome,
        tallies: h
            .tallies
            .iter()
            .map(|t| (t.ruleset, t.reversal, t.amount))
            .collect(),
        currency: h.currency,
        purchase_minor: h.purchase_minor,
        event_time_us: h.event_time_us,
        notifications,
    }))
}

/// batch.py `find_header(record.headers(), "traceparent")` as the header item to copy:
/// Some(None) when there is none; None when the headers are not the plain (str, bytes)
/// pairs of a consumed record (the reference then handles the record, whatever it does).
#[allow(clippy::type_complexity)]
fn traceparent<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    fixed: &Headers,
) -> PyResult<Option<Option<Bound<'py, PyTuple>>>> {
    let headers = record.call_method0(intern!(py, "headers"))?;
    if headers.is_none() {
        return Ok(Some(None));
    }
    let Ok(list) = headers.cast::<PyList>() else {
        return Ok(None);
    };
    for item in list.iter() {
        let Ok(pair) = item.cast::<PyTuple>() else {
            return Ok(None);
        };
        if pair.len() != 2 {
            return Ok(None);
        }
        let name = pair.get_item(0)?;
        let Ok(name) = name.cast::<PyString>() else {
            return Ok(None);
        };
        let name = name.to_str()?;
        if !name.is_ascii() {
            // str.lower() of a non-ASCII name is never "traceparent"... except through
            // Unicode case folds this check does not attempt: the reference decides.
            return Ok(None);
        }
        if name.eq_ignore_ascii_case("traceparent") {
            let value = pair.get_item(1)?;
            if value.is_none() {
                return Ok(Some(None));
            }
            if value.cast::<PyBytes>().is_err() {
                return Ok(None);
            }
            let item = PyTuple::new(py, [fixed.traceparent.bind(py).as_any(), &value])?;
            return Ok(Some(Some(item)));
        }
    }
    Ok(Some(None))
}

fn result<'py>(
    engine: &Engine,
    py: Python<'py>,
    requests: Bound<'py, PyList>,
    counts: Counts,
) -> PyResult<Bound<'py, PyTuple>> {
    let names = &engine.names;
    let ruleset = |i: usize| {
        let (name, version) = &names.rulesets[i];
        (name.bind(py).clone(), version.bind(py).clone())
    };
    let consumed = PyList::empty(py);
    for (topic, n) in &counts.consumed {
        consumed.append((topic, n))?;
    }
    let accruals = PyList::empty(py);
    for c in &counts.accruals {
        let (name, version) = ruleset(c.ruleset);
        let kind = if c.reversal {
            &names.reversal
        } else {
            &names.accrual
        };
        accruals.append((
            &c.currency,
            name,
            version,
            kind.bind(py),
            c.n,
            c.credit,
            c.debit,
        ))?;
    }
    let purchases = PyList::empty(py);
    for (currency, amount) in &counts.purchases {
        purchases.append((currency, amount))?;
    }
    let earning = PyList::empty(py);
    for (currency, rs, amount) in &counts.earning {
        let (name, version) = ruleset(*rs);
        earning.append((currency, name, version, amount))?;
    }
    (
        requests,
        counts.events,
        counts.outcomes.to_vec(),
        consumed,
        accruals,
        purchases,
        earning,
        counts.written[0],
        counts.written[1],
        counts.latest_us,
    )
        .into_pyobject(py)
}
