//! A minimal JSON value: a strict parser, a compact and a pretty printer,
//! and indexing that never panics, so the examples and tests read and write
//! JSON without a JSON crate.
//!
//! Who uses it: `compare` (`compare/src/results.rs`) writes and reads its
//! `results.json` with it, and `compare/tests/quick.rs` reads that file
//! back; `tests/processes.rs`, `tests/observe_mn.rs` and `tests/loops.rs`
//! parse the Chrome traces `RUNTIME_TRACE` writes.
//!
//! What it is, and what it is not:
//!
//! * [`Value`] keeps an object's members in the order they were inserted
//!   (or read), so a file written from a [`Value`] has its keys in the
//!   order the code built them.
//! * Numbers are `f64`: integers are exact up to 2^53, which covers every
//!   id, count and timestamp these files hold; [`Value::as_u64`] refuses
//!   what it cannot give exactly. A number that is not finite (NaN, ±∞) has
//!   no JSON form and is written as `null`.
//! * [`Value::parse`] takes RFC 8259 JSON and nothing else: no trailing
//!   commas, comments, single quotes, leading zeros, lone surrogates or raw
//!   control characters in strings; nesting at most [`MAX_DEPTH`] deep. Its
//!   error says what was wrong and at which byte. When an object repeats a
//!   key, the last value wins (in the first one's place).
//! * Indexing (`v["key"]`, `v[3]`) never panics: a missing key or index,
//!   or a value of the wrong kind, gives a `null`.

use std::fmt::{self, Write as _};
use std::ops::Index;

/// How deep arrays and objects may nest in what [`Value::parse`] accepts:
/// deeper input is an error, never a stack overflow.
pub const MAX_DEPTH: usize = 128;

/// Any JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number (exact for integers up to 2^53).
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: its members in insertion order.
    Object(Vec<(String, Value)>),
}

/// What indexing returns for a missing key or index.
static NULL: Value = Value::Null;

/// The largest integer an `f64` holds exactly together with all below it.
const EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53

/// An object of `pairs`, in their order: `obj([("run", 1u64.into()), …])`.
pub fn obj<K, I>(pairs: I) -> Value
where
    K: Into<String>,
    I: IntoIterator<Item = (K, Value)>,
{
    Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

impl Value {
    /// Parses `text`, which must hold exactly one JSON value (whitespace
    /// around it allowed). The error names what was wrong and the byte
    /// offset where it was found: `expected ':' at byte 7`.
    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        };
        p.skip_ws();
        let v = p.value()?;
        p.skip_ws();
        if p.pos != p.bytes.len() {
            return Err(p.err("trailing characters after the value"));
        }
        Ok(v)
    }

    /// The member `key` of an object; `None` for a missing key or a value
    /// that is not an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The number, if it is a non-negative integer of at most 2^53 (above
    /// that an `f64` no longer tells neighbouring integers apart).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= EXACT_INT => Some(n as u64),
            _ => None,
        }
    }

    /// The number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The members in order, if it is an object.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as JSON indented by two spaces, one element or member a
    /// line (`[]` and `{}` when empty), `"key": value` with one space;
    /// no newline at the end.
    pub fn to_string_pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out, 0);
        out
    }

    /// Appends the pretty form of `self` to `out`, its inner lines indented
    /// one level past `indent`.
    fn write_pretty(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n("  ", n));
        match self {
            Value::Array(a) if !a.is_empty() => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    pad(out, indent + 1);
                    v.write_pretty(out, indent + 1);
                }
                out.push('\n');
                pad(out, indent);
                out.push(']');
            }
            Value::Object(m) if !m.is_empty() => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    pad(out, indent + 1);
                    write_string(out, k);
                    out.push_str(": ");
                    v.write_pretty(out, indent + 1);
                }
                out.push('\n');
                pad(out, indent);
                out.push('}');
            }
            // Scalars and empty containers print as in the compact form.
            _ => {
                let _ = write!(out, "{self}");
            }
        }
    }
}

/// The compact form: no whitespace at all (`{"a":[1,2],"b":null}`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => f.write_str(&number_text(*n)),
            Value::String(s) => {
                let mut out = String::with_capacity(s.len() + 2);
                write_string(&mut out, s);
                f.write_str(&out)
            }
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Object(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    let mut key = String::with_capacity(k.len() + 2);
                    write_string(&mut key, k);
                    write!(f, "{key}:{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A number as JSON text that parses back to the same `f64`: the shortest
/// such decimal, plain for magnitudes from 1e-6 to below 1e21 (`1`,
/// `0.5`, `9007199254740992`), with an exponent outside them (`1e21`,
/// `1.5e-7`); `null` for NaN and the infinities.
fn number_text(n: f64) -> String {
    if !n.is_finite() {
        return "null".into();
    }
    let a = n.abs();
    if a == 0.0 || (1e-6..1e21).contains(&a) {
        format!("{n}")
    } else {
        format!("{n:e}")
    }
}

/// Appends `s` to `out` as a JSON string: quoted, with `"` and `\` escaped,
/// `\b \f \n \r \t` for those controls and `\u00XX` for the other ones
/// below 0x20; everything else (non-ASCII included) as it is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a char boundary.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// `v["key"]`: the member, or `null` (a missing key, or not an object).
impl Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `v[i]`: the element, or `null` (past the end, or not an array).
impl Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        match self {
            Value::Array(a) => a.get(i).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
}

/// `v == "text"`: whether it is that string.
impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

/// `v == "text"`: whether it is that string.
impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// `v == 3u64`: whether it is that number.
impl PartialEq<u64> for Value {
    fn eq(&self, other: &u64) -> bool {
        self.as_u64() == Some(*other)
    }
}

/// A string.
impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

/// A string.
impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::String(s.clone())
    }
}

/// A string.
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

/// A number.
impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

/// A number (exact up to 2^53).
impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Number(n as f64)
    }
}

/// A number.
impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Number(f64::from(n))
    }
}

/// A number (exact up to 2^53).
impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Number(n as f64)
    }
}

/// `true` or `false`.
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

/// An array of the converted elements.
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

/// `null` for `None`, else the converted value.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// The state of one [`Value::parse`].
struct Parser<'a> {
    /// The whole input.
    text: &'a str,
    /// The same, as bytes.
    bytes: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// Arrays and objects open around `pos`.
    depth: usize,
}

impl Parser<'_> {
    /// `what at byte N`, N the current position.
    fn err(&self, what: &str) -> String {
        self.err_at(what, self.pos)
    }

    /// `what at byte N`.
    fn err_at(&self, what: &str, at: usize) -> String {
        format!("{what} at byte {at}")
    }

    /// The next byte, not consumed; `None` at the end.
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips JSON whitespace (space, tab, newline, carriage return).
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `b` (after whitespace) or fails with `expected`.
    fn expect(&mut self, b: u8, expected: &str) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// `expected X at byte N`, or `unexpected end of input …` at the end.
    fn unexpected(&self, expected: &str) -> String {
        if self.pos >= self.bytes.len() {
            self.err(&format!("unexpected end of input, expected {expected}"))
        } else {
            self.err(&format!("expected {expected}"))
        }
    }

    /// One value starting at `pos` (whitespace before it already skipped).
    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => self.nested(Parser::array),
            Some(b'{') => self.nested(Parser::object),
            _ => Err(self.unexpected("a value")),
        }
    }

    /// The keyword `word`, giving `v`.
    fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.unexpected(&format!("`{word}`")))
        }
    }

    /// Runs `inner` (an array or object) one level deeper, refusing to go
    /// past [`MAX_DEPTH`].
    fn nested(&mut self, inner: fn(&mut Self) -> Result<Value, String>) -> Result<Value, String> {
        if self.depth == MAX_DEPTH {
            return Err(self.err(&format!("nesting deeper than {MAX_DEPTH}")));
        }
        self.depth += 1;
        let v = inner(self);
        self.depth -= 1;
        v
    }

    /// `[ value, … ]`, at its `[`.
    fn array(&mut self) -> Result<Value, String> {
        self.pos += 1;
        let mut out = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(out));
        }
        loop {
            self.skip_ws();
            out.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(out));
                }
                _ => return Err(self.unexpected("',' or ']'")),
            }
        }
    }

    /// `{ "key": value, … }`, at its `{`. A repeated key's last value
    /// replaces the earlier one in place.
    fn object(&mut self) -> Result<Value, String> {
        self.pos += 1;
        let mut out: Vec<(String, Value)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(out));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a string key"));
            }
            let key = self.string()?;
            self.expect(b':', "':'")?;
            self.skip_ws();
            let v = self.value()?;
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = v,
                None => out.push((key, v)),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(out));
                }
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }

    /// A string, at its opening quote; returns its text, escapes decoded.
    fn string(&mut self) -> Result<String, String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err_at("unterminated string", open));
            };
            match b {
                b'"' => {
                    out.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run..self.pos]);
                    out.push(self.escape()?);
                    run = self.pos;
                }
                0..=0x1f => return Err(self.err("raw control character in a string")),
                // Any other byte, ASCII or part of a UTF-8 sequence, is
                // copied with its run (the input is a valid &str, and the
                // run only ever ends at an ASCII byte).
                _ => self.pos += 1,
            }
        }
    }

    /// One escape, at its backslash: `\" \\ \/ \b \f \n \r \t` or `\uXXXX`
    /// (a surrogate pair as two of them).
    fn escape(&mut self) -> Result<char, String> {
        let at = self.pos;
        self.pos += 1;
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let hi = self.hex4()?;
                let code = match hi {
                    0xd800..=0xdbff => {
                        if !self.bytes[self.pos..].starts_with(b"\\u") {
                            return Err(self.err_at("a high surrogate without its pair", at));
                        }
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&lo) {
                            return Err(self.err_at("a high surrogate without its pair", at));
                        }
                        0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                    }
                    0xdc00..=0xdfff => {
                        return Err(self.err_at("a lone low surrogate", at));
                    }
                    _ => hi,
                };
                // Surrogates are handled above, so every code is a char.
                return char::from_u32(code)
                    .ok_or_else(|| self.err_at("an invalid \\u escape", at));
            }
            None => return Err(self.err("unexpected end of input in an escape")),
            Some(_) => return Err(self.err_at("an invalid escape", at)),
        };
        self.pos += 1;
        Ok(c)
    }

    /// Four hex digits, consumed.
    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.err("expected four hex digits"))?;
        // All four are ASCII hex digits: valid UTF-8 and a valid number.
        let code = u32::from_str_radix(std::str::from_utf8(digits).unwrap(), 16).unwrap();
        self.pos += 4;
        Ok(code)
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(self.err("a leading zero in a number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.unexpected("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.unexpected("a digit after '.'"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.unexpected("a digit in the exponent"));
            }
            self.digits();
        }
        // The grammar above is a subset of what `f64::from_str` takes; a
        // magnitude too large for an f64 reads as ±∞, which JSON cannot
        // mean, so it is refused.
        let n: f64 = self.text[start..self.pos]
            .parse()
            .map_err(|_| self.err_at("an invalid number", start))?;
        if !n.is_finite() {
            return Err(self.err_at("a number too large for an f64", start));
        }
        Ok(Value::Number(n))
    }

    /// Skips ASCII digits.
    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parse of `text`, which must succeed.
    fn p(text: &str) -> Value {
        Value::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn scalars_parse() {
        assert_eq!(p("null"), Value::Null);
        assert_eq!(p(" true "), Value::Bool(true));
        assert_eq!(p("\n\tfalse\r"), Value::Bool(false));
        assert_eq!(p("\"hi\""), Value::from("hi"));
        assert_eq!(p("0"), Value::Number(0.0));
    }

    #[test]
    fn numbers_in_every_form() {
        let cases = [
            ("1e3", 1000.0),
            ("1E+3", 1000.0),
            ("-0.5", -0.5),
            ("2.5e-3", 0.0025),
            ("-12", -12.0),
            ("0.1", 0.1),
            ("123456789.25", 123456789.25),
            ("9007199254740992", 9007199254740992.0),
            ("1.7976931348623157e308", f64::MAX),
        ];
        for (text, want) in cases {
            assert_eq!(p(text).as_f64(), Some(want), "{text}");
        }
        let neg_zero = p("-0").as_f64().unwrap();
        assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
    }

    #[test]
    fn as_u64_takes_only_exact_non_negative_integers() {
        assert_eq!(p("0").as_u64(), Some(0));
        assert_eq!(p("1e3").as_u64(), Some(1000));
        assert_eq!(p("4294967296").as_u64(), Some(1 << 32));
        assert_eq!(p("9007199254740992").as_u64(), Some(1 << 53));
        assert_eq!(p("9007199254740991").as_u64(), Some((1 << 53) - 1));
        assert_eq!(p("18446744073709551616").as_u64(), None, "past 2^53");
        assert_eq!(p("-1").as_u64(), None);
        assert_eq!(p("1.5").as_u64(), None);
        assert_eq!(p("\"1\"").as_u64(), None);
        assert_eq!(Value::from((1u64 << 53) + 2).as_u64(), None);
    }

    #[test]
    fn every_escape_decodes() {
        let v = p(r#""q\" b\\ s\/ \b\f\n\r\t \u0041\u00e9\u20AC \ud83d\ude00 raw é€""#);
        assert_eq!(
            v.as_str(),
            Some("q\" b\\ s/ \u{8}\u{c}\n\r\t Aé€ 😀 raw é€")
        );
        assert_eq!(p(r#""\u0000""#).as_str(), Some("\0"));
        assert_eq!(p(r#""""#).as_str(), Some(""));
    }

    #[test]
    fn strings_are_escaped_on_output() {
        let s = "quote\" back\\ nl\n cr\r tab\t bs\u{8} ff\u{c} nul\0 us\u{1f} del\u{7f} é 😀 /";
        let v = Value::from(s);
        let text = v.to_string();
        assert_eq!(
            text,
            r#""quote\" back\\ nl\n cr\r tab\t bs\b ff\f nul\u0000 us\u001f del"#.to_string()
                + "\u{7f} é 😀 /\""
        );
        assert!(!text.bytes().any(|b| b < 0x20), "no raw control characters");
        assert_eq!(p(&text), v);
    }

    #[test]
    fn containers_and_indexing() {
        let v = p(r#" { "a" : [1, {"b": null}, "x"], "c": {}, "d": [] , "e": true} "#);
        assert_eq!(v["a"][0].as_u64(), Some(1));
        assert!(v["a"][1]["b"].is_null());
        assert_eq!(v["a"][2], "x");
        assert_eq!(v["a"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["c"].as_object().map(<[_]>::len), Some(0));
        assert_eq!(v["d"].as_array().map(Vec::len), Some(0));
        assert_eq!(v["e"].as_bool(), Some(true));
        // Missing keys, indexes past the end and the wrong kind: null.
        assert!(v["missing"].is_null());
        assert!(v["a"][9].is_null());
        assert!(v[0].is_null());
        assert!(v["a"]["b"].is_null());
        assert!(v["missing"]["deeper"][3].is_null());
        assert!(v.get("missing").is_none());
        assert!(v.get("c").is_some());
        assert_eq!(v["a"][0], 1u64);
        assert!(v["a"][0] != "1");
    }

    #[test]
    fn object_keys_keep_their_order_and_the_last_repeat_wins() {
        let v = p(r#"{"z": 1, "a": 2, "m": 3, "a": 4}"#);
        let keys: Vec<&str> = v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(v["a"].as_u64(), Some(4));
        assert_eq!(v.to_string(), r#"{"z":1,"a":4,"m":3}"#);
    }

    #[test]
    fn compact_and_pretty_forms() {
        let v = obj([
            ("format", 1u64.into()),
            ("name", "a\"b".into()),
            (
                "list",
                vec![Value::from(0.5), Value::Null, true.into()].into(),
            ),
            ("empty", Value::Array(vec![])),
            ("none", obj::<&str, _>([])),
            ("nested", obj([("k", vec!["x", "y"].into())])),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{"format":1,"name":"a\"b","list":[0.5,null,true],"empty":[],"none":{},"nested":{"k":["x","y"]}}"#
        );
        let pretty = "{\n  \"format\": 1,\n  \"name\": \"a\\\"b\",\n  \"list\": [\n    0.5,\n    null,\n    true\n  ],\n  \"empty\": [],\n  \"none\": {},\n  \"nested\": {\n    \"k\": [\n      \"x\",\n      \"y\"\n    ]\n  }\n}";
        assert_eq!(v.to_string_pretty(), pretty);
        assert_eq!(p(pretty), v);
        assert_eq!(Value::from(3u64).to_string_pretty(), "3");
    }

    #[test]
    fn numbers_print_so_they_read_back_the_same() {
        let cases = [
            0.0,
            -0.0,
            1.0,
            -0.5,
            0.1,
            1e3,
            1.5e-7,
            1e-6,
            123456.789,
            9007199254740992.0,
            1e20,
            1e21,
            -2.5e300,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
        ];
        for n in cases {
            let text = Value::from(n).to_string();
            let back = p(&text).as_f64().unwrap();
            assert_eq!(back.to_bits(), n.to_bits(), "{n} printed as {text}");
        }
        assert_eq!(Value::from(1.0).to_string(), "1");
        assert_eq!(Value::from(1e3).to_string(), "1000");
        assert_eq!(Value::from(1e21).to_string(), "1e21");
        assert_eq!(Value::from(1.5e-7).to_string(), "1.5e-7");
        assert_eq!(Value::from(1u64 << 53).to_string(), "9007199254740992");
        assert_eq!(Value::from(f64::NAN).to_string(), "null");
        assert_eq!(Value::from(f64::INFINITY).to_string(), "null");
    }

    #[test]
    fn a_nested_document_round_trips() {
        let text = r#"{"traceEvents":[{"ph":"X","name":"task 1 (tests/x.rs:3:9)","ts":12.5,"dur":0.25,"args":{"task":7}},{"ph":"M","name":"thread_name","args":{"name":"loop \u2192 \"main\""}}],"n":[-1,0,1e-9,[[[]]]]}"#;
        let v = p(text);
        assert_eq!(p(&v.to_string()), v);
        assert_eq!(p(&v.to_string_pretty()), v);
        assert_eq!(v["traceEvents"][1]["args"]["name"], "loop → \"main\"");
        assert_eq!(v["traceEvents"][0]["args"]["task"].as_u64(), Some(7));
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases = [
            ("", "unexpected end of input, expected a value at byte 0"),
            ("   ", "unexpected end of input, expected a value at byte 3"),
            ("nul", "expected `null` at byte 0"),
            ("[1,]", "expected a value at byte 3"),
            ("[1 2]", "expected ',' or ']' at byte 3"),
            (
                "[1",
                "unexpected end of input, expected ',' or ']' at byte 2",
            ),
            ("{\"a\" 1}", "expected ':' at byte 5"),
            ("{\"a\":1,}", "expected a string key at byte 7"),
            ("{a:1}", "expected a string key at byte 1"),
            ("{\"a\":1 \"b\":2}", "expected ',' or '}' at byte 7"),
            ("1 2", "trailing characters after the value at byte 2"),
            ("01", "a leading zero in a number at byte 1"),
            ("-", "unexpected end of input, expected a digit at byte 1"),
            ("-x", "expected a digit at byte 1"),
            (
                "1.",
                "unexpected end of input, expected a digit after '.' at byte 2",
            ),
            (".5", "expected a value at byte 0"),
            (
                "1e",
                "unexpected end of input, expected a digit in the exponent at byte 2",
            ),
            ("+1", "expected a value at byte 0"),
            ("1e999", "a number too large for an f64 at byte 0"),
            ("\"abc", "unterminated string at byte 0"),
            ("[\"a\nb\"]", "raw control character in a string at byte 3"),
            (r#""\x""#, "an invalid escape at byte 1"),
            (r#""\u12g4""#, "expected four hex digits at byte 3"),
            (r#""\u12""#, "expected four hex digits at byte 3"),
            (
                r#" "\ud83d""#,
                "a high surrogate without its pair at byte 2",
            ),
            (
                r#""\ud83d\u0041""#,
                "a high surrogate without its pair at byte 1",
            ),
            (r#""\ude00""#, "a lone low surrogate at byte 1"),
            ("[1]]", "trailing characters after the value at byte 3"),
            ("'a'", "expected a value at byte 0"),
            ("NaN", "expected a value at byte 0"),
            ("[1] // c", "trailing characters after the value at byte 4"),
        ];
        for (text, want) in cases {
            assert_eq!(Value::parse(text), Err(want.to_string()), "{text:?}");
        }
    }

    #[test]
    fn nesting_is_limited() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Value::parse(&ok).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            Value::parse(&deep),
            Err(format!(
                "nesting deeper than {MAX_DEPTH} at byte {MAX_DEPTH}"
            ))
        );
        // Far deeper input fails the same way, without overflowing the stack.
        assert!(Value::parse(&"{\"a\":".repeat(100_000)).is_err());
    }

    #[test]
    fn constructors() {
        assert_eq!(Value::from("s"), Value::String("s".into()));
        assert_eq!(Value::from(String::from("s")), Value::String("s".into()));
        assert_eq!(Value::from(&String::from("s")), Value::String("s".into()));
        assert_eq!(Value::from(7u32), Value::Number(7.0));
        assert_eq!(Value::from(7usize), Value::Number(7.0));
        assert_eq!(Value::from(false), Value::Bool(false));
        assert_eq!(Value::from(None::<u64>), Value::Null);
        assert_eq!(Value::from(Some("x")), Value::from("x"));
        assert_eq!(
            Value::from(vec![1u64, 2]),
            Value::Array(vec![Value::Number(1.0), Value::Number(2.0)])
        );
        let o = obj([("a", Value::from(1u64)), ("b", "x".into())]);
        assert_eq!(o.as_object().unwrap()[1], ("b".to_string(), "x".into()));
    }
}
