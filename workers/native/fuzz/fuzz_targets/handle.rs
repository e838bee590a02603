//! `engine::handle` on arbitrary bytes, with the sample catalog (its spec from
//! `cashback.domain.native_spec`, path in CASHBACK_FUZZ_SPEC). A finding is a panic (the
//! pyo3 wrapper would turn it into a decline, but it is still a bug), or an answer whose
//! records are not JSON objects with an integer amount of the kind's sign.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/demand.rs"]
mod demand;
#[path = "../../src/engine.rs"]
mod engine;
#[path = "../../src/event.rs"]
mod event;
#[path = "../../src/facts.rs"]
mod facts;
#[path = "../../src/fxhash.rs"]
mod fxhash;
#[path = "../../src/json.rs"]
mod json;
#[path = "../../src/pricing.rs"]
mod pricing;
#[path = "../../src/records.rs"]
mod records;
#[path = "../../src/spec.rs"]
mod spec;
#[path = "../../src/time.rs"]
mod time;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

struct Loaded {
    catalog: spec::Catalog,
}

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        let path = std::env::var("CASHBACK_FUZZ_SPEC").expect("CASHBACK_FUZZ_SPEC: the spec file");
        let spec = std::fs::read(path).expect("readable spec");
        Loaded {
            catalog: spec::Catalog::parse(&spec).expect("a valid spec"),
        }
    })
}

fn check(output: &engine::Output) {
    let doc: serde_json::Value = serde_json::from_slice(&output.value).expect("JSON output");
    let money = if output.notification {
        &doc["params"]
    } else {
        &doc
    };
    let amount = money["amount_minor"].as_i64().expect("an integer amount");
    let accrual = doc["kind"] == "accrual";
    assert!(
        if accrual { amount >= 0 } else { amount <= 0 },
        "sign of {amount}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = loaded();
    // The Python module makes one CEL context per engine; a fresh one per input here keeps
    // inputs independent (the context holds no per-event state in the engine either).
    let cel = cel::Context::default();
    let _ = engine::handle(&loaded.catalog, &cel, text, |h| {
        for output in &h.outputs {
            check(output);
        }
        assert_eq!(
            h.outputs.iter().filter(|o| !o.notification).count(),
            h.tallies.len()
        );
    });
});
