//! records.py: accrual/v1 and notification/v1 documents, byte for byte as msgspec encodes
//! them, and their version-5 UUIDs.

use crate::time::DateTime;

const ACCRUAL_NAMESPACE: [u8; 16] = [
    0x5d, 0x2f, 0x7a, 0x4e, 0x0c, 0x3b, 0x4e, 0x8f, 0x9a, 0x61, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x01,
];
const NOTIFICATION_NAMESPACE: [u8; 16] = [
    0x8a, 0x41, 0xc9, 0xe2, 0x7f, 0x6d, 0x4b, 0x0c, 0x8e, 0x35, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6,
];

const HEX: &[u8; 16] = b"0123456789abcdef";

/// records.py `name_uuid` (= uuid.uuid5): SHA-1 of namespace + `a \x1f b`.
fn name_uuid(namespace: &[u8; 16], a: &str, b: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(namespace);
    h.update(a.as_bytes());
    h.update(b"\x1f");
    h.update(b.as_bytes());
    let mut d = h.digest().bytes();
    d[6] = (d[6] & 0x0f) | 0x50;
    d[8] = (d[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in d[..16].iter().enumerate() {
        if i == 4 || i == 6 || i == 8 || i == 10 {
            out.push('-');
        }
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 15) as usize] as char);
    }
    out
}

pub fn accrual_id(event_id: &str, ruleset: &str) -> String {
    name_uuid(&ACCRUAL_NAMESPACE, event_id, ruleset)
}

pub fn notification_id(accrual: &str, template: &str) -> String {
    name_uuid(&NOTIFICATION_NAMESPACE, accrual, template)
}

/// Bytes that need an escape in a JSON string: `"`, `\\` and the control characters.
const ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// A JSON string as msgspec writes it: `"` and `\` escaped, \b \t \n \f \r short, other
/// control characters as lowercase \u00XX, everything else (DEL, non-ASCII) as is.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if !ESCAPE[c as usize] {
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

fn key(out: &mut Vec<u8>, k: &[u8]) {
    // keys are fixed ASCII identifiers: no escaping needed
    out.push(b'"');
    out.extend_from_slice(k);
    out.extend_from_slice(b"\":");
}

/// `,"k":`: the key of every field after an object's first.
fn next_key(out: &mut Vec<u8>, k: &[u8]) {
    out.push(b',');
    key(out, k);
}

fn opt_time(out: &mut Vec<u8>, t: &Option<DateTime>) {
    match t {
        Some(t) => {
            out.push(b'"');
            t.write(out);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

pub struct RuleAmount<'r> {
    pub id: &'r str,
    pub base: i64,
    pub amount: i64,
}

pub struct Accrual<'r> {
    pub accrual_id: String,
    pub kind: &'static str,
    pub event_id: &'r str,
    pub purchase_id: &'r str,
    pub customer_id: &'r str,
    pub ruleset: &'r str,
    pub ruleset_version: i64,
    pub currency: &'r str,
    pub amount: i64,
    pub base: i64,
    pub rules: Vec<RuleAmount<'r>>,
    pub status: &'static str,
    pub occurred_at: DateTime,
    pub available_at: DateTime,
    pub expires_at: Option<DateTime>,
}

impl Accrual<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(512);
        o.push(b'{');
        key(&mut o, b"accrual_id");
        write_str(&mut o, &self.accrual_id);
        next_key(&mut o, b"kind");
        write_str(&mut o, self.kind);
        next_key(&mut o, b"event_id");
        write_str(&mut o, self.event_id);
        next_key(&mut o, b"purchase_id");
        write_str(&mut o, self.purchase_id);
        next_key(&mut o, b"customer_id");
        write_str(&mut o, self.customer_id);
        next_key(&mut o, b"ruleset");
        write_str(&mut o, self.ruleset);
        next_key(&mut o, b"ruleset_version");
        write_int(&mut o, self.ruleset_version);
        next_key(&mut o, b"currency");
        write_str(&mut o, self.currency);
        next_key(&mut o, b"amount_minor");
        write_int(&mut o, self.amount);
        next_key(&mut o, b"base_minor");
        write_int(&mut o, self.base);
        next_key(&mut o, b"rules");
        o.push(b'[');
        for (i, r) in self.rules.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            o.push(b'{');
            key(&mut o, b"id");
            write_str(&mut o, r.id);
            next_key(&mut o, b"base_minor");
            write_int(&mut o, r.base);
            next_key(&mut o, b"amount_minor");
            write_int(&mut o, r.amount);
            o.push(b'}');
        }
        o.push(b']');
        next_key(&mut o, b"status");
        write_str(&mut o, self.status);
        next_key(&mut o, b"occurred_at");
        opt_time(&mut o, &Some(self.occurred_at));
        next_key(&mut o, b"available_at");
        opt_time(&mut o, &Some(self.available_at));
        next_key(&mut o, b"expires_at");
        opt_time(&mut o, &self.expires_at);
        o.push(b'}');
        o
    }

    /// records.py `notification_for`, encoded.
    pub fn notification(
        &self,
        template: &str,
        locale: Option<&str>,
        descriptions: &[&str],
    ) -> Vec<u8> {
        let mut o = Vec::with_capacity(512);
        o.push(b'{');
        key(&mut o, b"notification_id");
        write_str(&mut o, &notification_id(&self.accrual_id, template));
        next_key(&mut o, b"template");
        write_str(&mut o, template);
        next_key(&mut o, b"customer_id");
        write_str(&mut o, self.customer_id);
        next_key(&mut o, b"locale");
        match locale {
            Some(l) => write_str(&mut o, l),
            None => o.extend_from_slice(b"null"),
        }
        next_key(&mut o, b"accrual_id");
        write_str(&mut o, &self.accrual_id);
        next_key(&mut o, b"kind");
        write_str(&mut o, self.kind);
        next_key(&mut o, b"params");
        o.push(b'{');
        key(&mut o, b"amount_minor");
        write_int(&mut o, self.amount);
        next_key(&mut o, b"currency");
        write_str(&mut o, self.currency);
        next_key(&mut o, b"available_at");
        opt_time(&mut o, &Some(self.available_at));
        next_key(&mut o, b"expires_at");
        opt_time(&mut o, &self.expires_at);
        next_key(&mut o, b"descriptions");
        o.push(b'[');
        for (i, d) in descriptions.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_str(&mut o, d);
        }
        o.push(b']');
        o.push(b'}');
        o.push(b'}');
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_python() {
        let a = accrual_id("E-1", "retail");
        assert_eq!(a, "518564d7-a34a-5309-aa25-de171cd78fab");
        assert_eq!(
            notification_id(&a, "cashback_accrued"),
            "d93ea7d6-467d-59be-944d-2e353b24cb23"
        );
        assert_eq!(
            accrual_id("é\"😀", "x"),
            "435236e5-386e-58ab-ac29-243eda87bdef"
        );
    }

    #[test]
    fn strings_as_msgspec() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"\\\u{0}\u{1f}\u{7f}\u{2028}é\u{8}\t\n\u{c}\r");
        assert_eq!(
            out,
            "\"a\\\"\\\\\\u0000\\u001f\u{7f}\u{2028}é\\b\\t\\n\\f\\r\"".as_bytes()
        );
    }
}
