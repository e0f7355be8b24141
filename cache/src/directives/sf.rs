//! A strict RFC 9651 Dictionary parser, enough to validate a
//! `CDN-Cache-Control` field (RFC 9213 §2.1: an invalid one is ignored
//! whole) and read its members' bare items. Apart from the lenient list
//! reading of `Cache-Control` ([`super::lex`]) because the two grammars
//! disagree on what is an error.

use super::Arg;
use super::lex::is_tchar;

pub(super) fn dictionary(s: &[u8]) -> Result<Vec<(String, Arg)>, ()> {
    let mut p = Parser { s, i: 0 };
    let mut out: Vec<(String, Arg)> = Vec::new();
    p.skip_sp();
    if p.at_end() {
        return Ok(out);
    }
    loop {
        let key = p.key()?;
        let arg = if p.eat(b'=') {
            if p.peek() == Some(b'(') {
                p.inner_list()?;
                Arg::Other
            } else {
                p.bare_item()?
            }
        } else {
            Arg::Absent
        };
        p.parameters()?;
        out.retain(|(k, _)| *k != key);
        out.push((key, arg));
        p.skip_ows();
        if p.at_end() {
            return Ok(out);
        }
        if !p.eat(b',') {
            return Err(());
        }
        p.skip_ows();
        if p.at_end() {
            return Err(());
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn key(&mut self) -> Result<String, ()> {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
            _ => return Err(()),
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c) {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn parameters(&mut self) -> Result<(), ()> {
        while self.eat(b';') {
            self.skip_sp();
            self.key()?;
            if self.eat(b'=') {
                self.bare_item()?;
            }
        }
        Ok(())
    }
    fn inner_list(&mut self) -> Result<(), ()> {
        if !self.eat(b'(') {
            return Err(());
        }
        loop {
            self.skip_sp();
            if self.eat(b')') {
                return self.parameters();
            }
            self.bare_item()?;
            self.parameters()?;
            match self.peek() {
                Some(b' ' | b')') => {}
                _ => return Err(()),
            }
        }
    }
    fn bare_item(&mut self) -> Result<Arg, ()> {
        match self.peek().ok_or(())? {
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => self.string().map(Arg::Quoted),
            b'*' | b'A'..=b'Z' | b'a'..=b'z' => Ok(Arg::Token(self.token())),
            b':' => self.bytes().map(|()| Arg::Other),
            b'?' => {
                self.i += 1;
                match self.peek() {
                    Some(b'1') => {
                        self.i += 1;
                        Ok(Arg::Absent)
                    }
                    Some(b'0') => {
                        self.i += 1;
                        Ok(Arg::False)
                    }
                    _ => Err(()),
                }
            }
            b'@' => {
                self.i += 1;
                match self.number()? {
                    Arg::Integer(_) => Ok(Arg::Other),
                    _ => Err(()),
                }
            }
            b'%' => self.display_string().map(|()| Arg::Other),
            _ => Err(()),
        }
    }
    fn number(&mut self) -> Result<Arg, ()> {
        let neg = self.eat(b'-');
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let int_len = self.i - start;
        if int_len == 0 {
            return Err(());
        }
        if self.eat(b'.') {
            let fstart = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let frac = self.i - fstart;
            if int_len > 12 || frac == 0 || frac > 3 {
                return Err(());
            }
            return Ok(Arg::Other);
        }
        if int_len > 15 {
            return Err(());
        }
        let digits = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| ())?;
        let v: i64 = digits.parse().map_err(|_| ())?;
        Ok(Arg::Integer(if neg { -v } else { v }))
    }
    fn string(&mut self) -> Result<String, ()> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or(())?;
            self.i += 1;
            match c {
                b'\\' => {
                    let e = self.peek().ok_or(())?;
                    if e != b'"' && e != b'\\' {
                        return Err(());
                    }
                    out.push(char::from(e));
                    self.i += 1;
                }
                b'"' => return Ok(out),
                0x20..=0x7e => out.push(char::from(c)),
                _ => return Err(()),
            }
        }
    }
    fn token(&mut self) -> String {
        let start = self.i;
        self.i += 1;
        while self
            .peek()
            .is_some_and(|c| is_tchar(c) || c == b':' || c == b'/')
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }
    fn bytes(&mut self) -> Result<(), ()> {
        self.i += 1;
        loop {
            match self.peek().ok_or(())? {
                b':' => {
                    self.i += 1;
                    return Ok(());
                }
                c if c.is_ascii_alphanumeric() || b"+/=".contains(&c) => self.i += 1,
                _ => return Err(()),
            }
        }
    }
    fn display_string(&mut self) -> Result<(), ()> {
        self.i += 1;
        if !self.eat(b'"') {
            return Err(());
        }
        loop {
            match self.peek().ok_or(())? {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'%' => {
                    let hex = self.s.get(self.i + 1..self.i + 3).ok_or(())?;
                    if !hex
                        .iter()
                        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
                    {
                        return Err(());
                    }
                    self.i += 3;
                }
                0x20..=0x7e => self.i += 1,
                _ => return Err(()),
            }
        }
    }
}
