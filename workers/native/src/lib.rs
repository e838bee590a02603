//! cashback_native: the decode -> price -> encode path of cashback.domain.engine in Rust.
//!
//! `Engine(spec, output_cls, tally_cls).handle(raw)` returns the same outputs as the Python
//! engine, byte for byte, or None for anything it is not sure about (the Python engine then
//! handles the event: dead letters, unusual timestamps, overflow, ...). `price_batch` does
//! a whole batch in one call and returns what the producer and the metrics need.

mod batch;
mod demand;
mod engine;
mod event;
mod facts;
mod fxhash;
mod json;
mod pricing;
mod records;
mod spec;
mod time;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple, PyType};

use crate::spec::Catalog;

/// Python strings made once per engine.
pub(crate) struct Names {
    accruals: Py<PyString>,
    notifications: Py<PyString>,
    accrual_schema: Py<PyString>,
    notification_schema: Py<PyString>,
    pub(crate) accrual: Py<PyString>,
    pub(crate) reversal: Py<PyString>,
    /// Per rule set: its name and version as Python objects.
    pub(crate) rulesets: Vec<(Py<PyString>, Py<PyAny>)>,
}

#[pyclass(module = "cashback_native", frozen)]
struct Engine {
    catalog: Catalog,
    cel: cel::Context<'static>,
    /// The header items of `price_batch`'s outputs.
    headers: batch::Headers,
    output_cls: Py<PyAny>,
    tally_cls: Py<PyAny>,
    /// `tuple.__new__`: builds a named tuple from its fields without running the class's
    /// Python-level `__new__` (the classes are plain NamedTuples, checked in `new`).
    tuple_new: Py<PyAny>,
    names: Names,
}

#[pymethods]
impl Engine {
    #[new]
    fn new(
        py: Python<'_>,
        spec: &[u8],
        output_cls: Py<PyAny>,
        tally_cls: Py<PyAny>,
    ) -> PyResult<Self> {
        // Compiling a big catalog takes a while: let the poll loop run meanwhile.
        let catalog = py
            .detach(|| Catalog::parse(spec))
            .map_err(PyValueError::new_err)?;
        let tuple_type = py.get_type::<PyTuple>();
        for cls in [&output_cls, &tally_cls] {
            let is_tuple = cls
                .bind(py)
                .cast::<PyType>()
                .map(|t| t.is_subclass(&tuple_type).unwrap_or(false))
                .unwrap_or(false);
            if !is_tuple {
                return Err(PyValueError::new_err(
                    "output_cls and tally_cls must be NamedTuples",
                ));
            }
        }
        let tuple_new = tuple_type.getattr("__new__")?.unbind();
        let intern = |s: &str| PyString::intern(py, s).unbind();
        let mut rulesets = Vec::with_capacity(catalog.rulesets.len());
        for rs in &catalog.rulesets {
            rulesets.push((
                intern(&rs.name),
                rs.version.into_pyobject(py)?.into_any().unbind(),
            ));
        }
        let names = Names {
            accruals: intern("accruals"),
            notifications: intern("notifications"),
            accrual_schema: intern("accrual/v1"),
            notification_schema: intern("notification/v1"),
            accrual: intern("accrual"),
            reversal: intern("reversal"),
            rulesets,
        };
        Ok(Engine {
            catalog,
            cel: cel::Context::default(),
            headers: batch::Headers::new(py)?,
            output_cls,
            tally_cls,
            tuple_new,
            names,
        })
    }

    /// The 7-tuple `(outcome, outputs, tallies, event_id, currency, purchase_minor,
    /// event_time_us)`, or None: not handled here, use the Python engine.
    fn handle<'py>(
        &self,
        py: Python<'py>,
        raw: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Ok(bytes) = raw.cast::<PyBytes>() else {
            return Ok(None);
        };
        let data = bytes.as_bytes();
        if data.is_empty() || data.len() as u64 > self.catalog.max_event_bytes {
            return Ok(None);
        }
        let Ok(text) = std::str::from_utf8(data) else {
            return Ok(None);
        };
        // A panic here would reach Python as PanicException, a BaseException the worker's
        // safety net does not catch: a bug in this engine must only send the event to the
        // Python reference.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine::handle(&self.catalog, &self.cel, text, |h| self.build(py, h))
        }));
        match result {
            Ok(Ok(built)) => built.map(Some),
            Ok(Err(_)) | Err(_) => Ok(None),
        }
    }

    /// A whole batch in one call: `records` (objects with `value()`, `topic()` and
    /// `headers()`, as consumed) in; `(requests, counts...)` out, each request the
    /// `(topic, key, value, headers)` of one output, in input order. A record this engine
    /// declines goes to `fallback(record, requests)`, which appends its own requests.
    /// Pricing runs with the GIL released on `threads` threads (0: up to 2, as the
    /// process may use).
    #[pyo3(signature = (records, accruals, notifications, fallback, threads = 0))]
    fn price_batch<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        accruals: &Bound<'py, PyString>,
        notifications: &Bound<'py, PyString>,
        fallback: &Bound<'py, PyAny>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        batch::price_batch(
            self,
            py,
            records,
            accruals,
            notifications,
            fallback,
            threads,
        )
    }
}

impl Engine {
    fn build<'py>(&self, py: Python<'py>, h: engine::Handled<'_>) -> PyResult<Bound<'py, PyTuple>> {
        let n = &self.names;
        let new = self.tuple_new.bind(py);
        let (output_cls, tally_cls) = (self.output_cls.bind(py), self.tally_cls.bind(py));
        let key = PyBytes::new(py, h.customer_id.as_bytes());
        let outputs = PyList::empty(py);
        for o in &h.outputs {
            let (dest, schema) = if o.notification {
                (&n.notifications, &n.notification_schema)
            } else {
                (&n.accruals, &n.accrual_schema)
            };
            let value = PyBytes::new(py, &o.value);
            let fields = PyTuple::new(
                py,
                [
                    dest.bind(py).as_any(),
                    key.as_any(),
                    value.as_any(),
                    schema.bind(py).as_any(),
                ],
            )?;
            outputs.append(new.call1((output_cls, fields))?)?;
        }
        let currency = PyString::new(py, h.currency);
        let tallies = PyList::empty(py);
        for t in &h.tallies {
            let (name, version) = &n.rulesets[t.ruleset];
            let kind = if t.reversal { &n.reversal } else { &n.accrual };
            let amount = t.amount.into_pyobject(py)?;
            let fields = PyTuple::new(
                py,
                [
                    currency.as_any(),
                    name.bind(py).as_any(),
                    version.bind(py),
                    kind.bind(py).as_any(),
                    amount.as_any(),
                ],
            )?;
            tallies.append(new.call1((tally_cls, fields))?)?;
        }
        PyTuple::new(
            py,
            [
                h.outcome.into_pyobject(py)?.into_any(),
                outputs.into_any(),
                tallies.into_any(),
                PyString::new(py, h.event_id).into_any(),
                currency.into_any(),
                h.purchase_minor.into_pyobject(py)?.into_any(),
                h.event_time_us.into_pyobject(py)?.into_any(),
            ],
        )
    }
}

#[pymodule]
fn cashback_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    Ok(())
}
