//! Trace files for replay: one URL or path per line, or an access log in
//! Common / Combined Log Format (the path is taken from the request line).

use std::path::Path;

use http::Method;

/// One request of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// Method (GET for plain URL lines).
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// A parsed trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The requests, in file order.
    pub entries: Vec<TraceEntry>,
    /// Lines that were neither blank, a comment nor a request (skipped).
    pub skipped: usize,
}

/// Why a trace cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file cannot be read.
    #[error("cannot read trace {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No line held a request.
    #[error("trace {0} has no request line (expected a path, a URL or an access-log line)")]
    Empty(String),
}

/// Reads and parses a trace file.
pub fn load(path: &Path) -> Result<Trace, TraceError> {
    let text = std::fs::read(path).map_err(|source| TraceError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let trace = parse(&String::from_utf8_lossy(&text));
    if trace.entries.is_empty() {
        return Err(TraceError::Empty(path.display().to_string()));
    }
    Ok(trace)
}

/// Parses trace text; blank lines and `#` comments are ignored.
pub fn parse(text: &str) -> Trace {
    let mut trace = Trace::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Some(e) => trace.entries.push(e),
            None => trace.skipped += 1,
        }
    }
    trace
}

/// One line: `/path`, `http://host/path`, `METHOD /path`, or a CLF line.
pub fn parse_line(line: &str) -> Option<TraceEntry> {
    let line = line.trim();
    if line.contains('"') {
        return parse_log_line(line);
    }
    let mut words = line.split_whitespace();
    let first = words.next()?;
    match words.next() {
        None => Some(TraceEntry {
            method: Method::GET,
            path: target_path(first)?,
        }),
        Some(target) => Some(TraceEntry {
            method: method(first)?,
            path: target_path(target)?,
        }),
    }
}

/// `host ident user [date] "METHOD TARGET PROTO" status bytes ["referer" "agent"]`.
fn parse_log_line(line: &str) -> Option<TraceEntry> {
    let start = line.find('"')? + 1;
    let len = line[start..].find('"')?;
    let request = &line[start..start + len];
    let mut words = request.split_whitespace();
    let m = method(words.next()?)?;
    let path = target_path(words.next()?)?;
    Some(TraceEntry { method: m, path })
}

fn method(s: &str) -> Option<Method> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Method::from_bytes(s.as_bytes()).ok()
}

/// The path and query of an origin-form path or an absolute URL.
fn target_path(s: &str) -> Option<String> {
    let path = if s.starts_with('/') {
        s
    } else {
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"))?;
        match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => &rest[i..],
            Some(i) => return Some(format!("/{}", &rest[i..])),
            None => "/",
        }
    };
    let path = path.split('#').next().unwrap_or(path);
    (!path.bytes().any(|b| b.is_ascii_control() || b == b' ')).then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(p: &str) -> TraceEntry {
        TraceEntry {
            method: Method::GET,
            path: p.into(),
        }
    }

    #[test]
    fn url_per_line() {
        let t = parse(
            "# a comment\n/products/1\n\n  /images/2.jpg  \nhttp://shop.test/fragments/product/3?x=1\n\
             https://127.0.0.1:8080\nPOST /api/orders\nnot a path\n",
        );
        assert_eq!(
            t.entries,
            vec![
                get("/products/1"),
                get("/images/2.jpg"),
                get("/fragments/product/3?x=1"),
                get("/"),
                TraceEntry {
                    method: Method::POST,
                    path: "/api/orders".into()
                },
            ]
        );
        assert_eq!(t.skipped, 1);
    }

    #[test]
    fn common_and_combined_log_format() {
        let t = parse(concat!(
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326\n",
            "10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] \"POST /api/orders HTTP/1.1\" 201 52 \"http://ref.example/\" \"curl/8\"\n",
            "10.0.0.3 - - [10/Oct/2000:13:55:38 -0700] \"GET http://shop.test/products/7?a=b HTTP/1.1\" 200 10 \"-\" \"Mozilla/5.0 (X11)\"\n",
            "10.0.0.4 - - [10/Oct/2000:13:55:39 -0700] \"-\" 400 0 \"-\" \"-\"\n",
            "10.0.0.5 - - [10/Oct/2000:13:55:39 -0700] \"GET /broken\n",
        ));
        assert_eq!(
            t.entries,
            vec![
                get("/apache_pb.gif"),
                TraceEntry {
                    method: Method::POST,
                    path: "/api/orders".into()
                },
                get("/products/7?a=b"),
            ]
        );
        assert_eq!(t.skipped, 2);
    }

    #[test]
    fn empty_trace_is_an_error() {
        let dir = std::env::temp_dir().join(format!("brink-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.log");
        std::fs::write(&f, "# nothing\n\n").unwrap();
        assert!(matches!(load(&f), Err(TraceError::Empty(_))));
        assert!(matches!(
            load(&dir.join("missing.log")),
            Err(TraceError::Read { .. })
        ));
        std::fs::write(&f, "/a\n/b\n").unwrap();
        assert_eq!(load(&f).unwrap().entries.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
