//! A reader for the subset of C the steering program's headers use, shared
//! by `build.rs` (which has clang lay the types out for the BPF target) and
//! `tests/abi.rs` (which compares them with the Rust mirrors).
//!
//! It understands, after removing comments and preprocessor lines:
//! `enum NAME { A = 1, B, … };`, `struct NAME { TYPE field; TYPE arr[N]; };`,
//! BTF map definitions `struct { __uint(k, v); __type(k, T); } NAME SEC(".maps");`
//! and load-time constants `volatile const TYPE NAME = VALUE;`.
//! Anything else it skips; a construct it starts to read but cannot finish
//! is an error, so the ABI check can never pass by reading nothing.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CEnum {
    pub name: String,
    /// Members in declaration order with their values.
    pub members: Vec<(String, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CField {
    pub name: String,
    /// The type as written (`__be32`, `__u8`).
    pub ty: String,
    /// Element count when the field is an array.
    pub array: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CStructDef {
    pub name: String,
    pub fields: Vec<CField>,
}

/// A BTF-style map definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CMap {
    pub name: String,
    /// `(attribute, value)` of each `__uint`/`__type`, e.g. `("type", "BPF_MAP_TYPE_HASH")`,
    /// `("key", "struct xr_v4_key")`.
    pub attrs: Vec<(String, String)>,
}

/// A `volatile const` global.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CConst {
    pub name: String,
    pub ty: String,
    pub value: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CHeaders {
    pub enums: Vec<CEnum>,
    pub structs: Vec<CStructDef>,
    pub maps: Vec<CMap>,
    pub consts: Vec<CConst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Num(i64),
    Str(String),
    Punct(char),
}

fn strip(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
            out.push(' ');
        } else if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    // Preprocessor lines (with their continuations) carry no declarations.
    let mut kept = String::with_capacity(out.len());
    let mut continued = false;
    for line in out.lines() {
        let directive = continued || line.trim_start().starts_with('#');
        continued = directive && line.trim_end().ends_with('\\');
        if !directive {
            kept.push_str(line);
        }
        kept.push('\n');
    }
    kept
}

fn tokenize(src: &str) -> Result<Vec<Tok>, ParseError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            toks.push(Tok::Ident(src[s..i].to_owned()));
        } else if c.is_ascii_digit() {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let text = src[s..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let v = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                i64::from_str_radix(h, 16)
            } else {
                text.parse()
            };
            toks.push(Tok::Num(v.map_err(|_| {
                ParseError(format!("bad number `{}`", &src[s..i]))
            })?));
        } else if c == '"' {
            let s = i + 1;
            i = s;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            toks.push(Tok::Str(src[s..i.min(b.len())].to_owned()));
            i += 1;
        } else {
            toks.push(Tok::Punct(c));
            i += 1;
        }
    }
    Ok(toks)
}

struct Cursor {
    toks: Vec<Tok>,
    pos: usize,
}

impl Cursor {
    fn peek(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_ident(&self, k: usize, s: &str) -> bool {
        matches!(self.peek(k), Some(Tok::Ident(i)) if i == s)
    }
    fn is_punct(&self, k: usize, c: char) -> bool {
        self.peek(k) == Some(&Tok::Punct(c))
    }
    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s),
            t => Err(ParseError(format!("expected {what}, found {t:?}"))),
        }
    }
    fn punct(&mut self, c: char, ctx: &str) -> Result<(), ParseError> {
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            t => Err(ParseError(format!("{ctx}: expected `{c}`, found {t:?}"))),
        }
    }
    /// Skips to just after the matching `}` of the `{` at the cursor.
    fn skip_block(&mut self) {
        let mut depth = 0usize;
        while let Some(t) = self.next() {
            match t {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Parses the text of one or more headers.
pub fn parse(src: &str) -> Result<CHeaders, ParseError> {
    let mut c = Cursor {
        toks: tokenize(&strip(src))?,
        pos: 0,
    };
    let mut h = CHeaders::default();
    while c.peek(0).is_some() {
        if c.is_ident(0, "enum") && c.is_punct(2, '{') {
            c.next();
            h.enums.push(parse_enum(&mut c)?);
        } else if c.is_ident(0, "struct") && c.is_punct(1, '{') {
            c.next();
            h.maps.push(parse_map(&mut c)?);
        } else if c.is_ident(0, "struct") && c.is_punct(2, '{') {
            c.next();
            h.structs.push(parse_struct(&mut c)?);
        } else if c.is_ident(0, "volatile") && c.is_ident(1, "const") {
            c.next();
            c.next();
            h.consts.push(parse_const(&mut c)?);
        } else if c.is_punct(0, '{') {
            // Function bodies and initialisers.
            c.skip_block();
        } else {
            c.next();
        }
    }
    Ok(h)
}

fn parse_enum(c: &mut Cursor) -> Result<CEnum, ParseError> {
    let name = c.ident("enum name")?;
    c.punct('{', &name)?;
    let mut members = Vec::new();
    let mut next = 0i64;
    loop {
        if c.is_punct(0, '}') {
            c.next();
            break;
        }
        let m = c.ident("enum member")?;
        if c.is_punct(0, '=') {
            c.next();
            next = match c.next() {
                Some(Tok::Num(v)) => v,
                t => {
                    return Err(ParseError(format!(
                        "enum {name}: {m} = {t:?} is not a number literal"
                    )))
                }
            };
        }
        members.push((m, next));
        next += 1;
        if c.is_punct(0, ',') {
            c.next();
        } else if !c.is_punct(0, '}') {
            return Err(ParseError(format!(
                "enum {name}: unexpected {:?}",
                c.peek(0)
            )));
        }
    }
    c.punct(';', &name)?;
    Ok(CEnum { name, members })
}

fn parse_struct(c: &mut Cursor) -> Result<CStructDef, ParseError> {
    let name = c.ident("struct name")?;
    c.punct('{', &name)?;
    let mut fields = Vec::new();
    loop {
        if c.is_punct(0, '}') {
            c.next();
            break;
        }
        let mut words = Vec::new();
        while let Some(Tok::Ident(w)) = c.peek(0) {
            words.push(w.clone());
            c.next();
        }
        let Some(field) = words.pop() else {
            return Err(ParseError(format!(
                "struct {name}: unexpected {:?}",
                c.peek(0)
            )));
        };
        if words.is_empty() {
            return Err(ParseError(format!(
                "struct {name}: field {field} has no type"
            )));
        }
        let mut array = None;
        if c.is_punct(0, '[') {
            c.next();
            match c.next() {
                Some(Tok::Num(n)) if n > 0 => array = Some(n as usize),
                t => {
                    return Err(ParseError(format!(
                        "struct {name}: {field}[{t:?}] needs a literal length"
                    )))
                }
            }
            c.punct(']', &name)?;
        }
        c.punct(';', &format!("struct {name}.{field}"))?;
        fields.push(CField {
            name: field,
            ty: words.join(" "),
            array,
        });
    }
    c.punct(';', &name)?;
    Ok(CStructDef { name, fields })
}

fn parse_map(c: &mut Cursor) -> Result<CMap, ParseError> {
    c.punct('{', "map")?;
    let mut attrs = Vec::new();
    loop {
        if c.is_punct(0, '}') {
            c.next();
            break;
        }
        let macro_name = c.ident("__uint or __type")?;
        if macro_name != "__uint" && macro_name != "__type" {
            return Err(ParseError(format!("map: unexpected `{macro_name}`")));
        }
        c.punct('(', "map")?;
        let key = c.ident("map attribute")?;
        c.punct(',', "map")?;
        // The value as written, with single spaces between words only
        // (`BPF_MAP_TYPE_HASH`, `struct xr_v4_key`, `sizeof(__u32)`).
        let mut value = String::new();
        let mut depth = 0usize;
        let word = |value: &mut String, w: &str| {
            if value.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                value.push(' ');
            }
            value.push_str(w);
        };
        loop {
            match c.next() {
                Some(Tok::Punct('(')) => {
                    depth += 1;
                    value.push('(');
                }
                Some(Tok::Punct(')')) if depth == 0 => break,
                Some(Tok::Punct(')')) => {
                    depth -= 1;
                    value.push(')');
                }
                Some(Tok::Ident(s)) => word(&mut value, &s),
                Some(Tok::Num(n)) => word(&mut value, &n.to_string()),
                Some(t) => return Err(ParseError(format!("map {key}: unexpected {t:?}"))),
                None => return Err(ParseError("map: unterminated attribute".into())),
            }
        }
        c.punct(';', "map")?;
        attrs.push((key, value));
    }
    let name = c.ident("map name")?;
    if !(c.is_ident(0, "SEC") && c.is_punct(1, '(') && c.peek(2) == Some(&Tok::Str(".maps".into())))
    {
        return Err(ParseError(format!("map {name}: expected SEC(\".maps\")")));
    }
    c.pos += 3;
    c.punct(')', &name)?;
    c.punct(';', &name)?;
    Ok(CMap { name, attrs })
}

fn parse_const(c: &mut Cursor) -> Result<CConst, ParseError> {
    let ty = c.ident("constant type")?;
    let name = c.ident("constant name")?;
    c.punct('=', &name)?;
    let value = match c.next() {
        Some(Tok::Num(v)) => v,
        t => {
            return Err(ParseError(format!(
                "constant {name}: {t:?} is not a number literal"
            )))
        }
    };
    c.punct(';', &name)?;
    Ok(CConst { name, ty, value })
}
