//! What an upstream may send, enforced while it is read: a national system that
//! misbehaves (a misrouted download, a proxy error loop, a compromised host) gets
//! a bounded share of the gateway's memory and time, never more.
//!
//! The header block is bounded by hyper (at most 100 headers in its ~400 KiB read
//! buffer) and then by [`Bounds::header_bytes`]; the body by the bound of its kind
//! of call, checked against `Content-Length` before reading and counted while
//! reading, so an endless or lying body stops at the bound; its JSON nesting by
//! [`Bounds::json_depth`], checked before it is parsed. Nothing is decompressed: the
//! gateway never asks for compression, and a compressed body is refused. A redirect
//! is never followed.

use reqwest::StatusCode;

use crate::{BadResponse, Error};

/// What an upstream may send at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The body of a token answer, in bytes.
    pub token_bytes: usize,
    /// The body of a lookup (a citizen, a residence).
    pub lookup_bytes: usize,
    /// The body of the answer to a sync call (a dossier delivered).
    pub sync_bytes: usize,
    /// The body of a page of a feed (the portal's online dossiers).
    pub feed_bytes: usize,
    /// The header block of any answer: names and values.
    pub header_bytes: usize,
    /// How deep JSON may nest (objects and arrays).
    pub json_depth: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            token_bytes: 16 * 1024,
            lookup_bytes: 64 * 1024,
            sync_bytes: 64 * 1024,
            feed_bytes: 1024 * 1024,
            header_bytes: 16 * 1024,
            json_depth: 32,
        }
    }
}

/// The kind of a call, which decides how large its answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Credentials for a token.
    Token,
    /// A record by key.
    Lookup,
    /// A record delivered.
    Sync,
    /// A page of a feed.
    Feed,
}

impl Bounds {
    /// The body bound of `kind`.
    pub fn body(&self, kind: Kind) -> usize {
        match kind {
            Kind::Token => self.token_bytes,
            Kind::Lookup => self.lookup_bytes,
            Kind::Sync => self.sync_bytes,
            Kind::Feed => self.feed_bytes,
        }
    }
}

/// Reads `response` within `bounds`; its status and body. `transport` classifies
/// a failure of the connection while reading.
pub(crate) async fn read(
    mut response: reqwest::Response,
    kind: Kind,
    bounds: &Bounds,
    endpoint: &str,
    transport: impl Fn(reqwest::Error) -> Error,
) -> Result<(StatusCode, Vec<u8>), Error> {
    let status = response.status();
    let bad = |cause, detail: String| Error::bad(endpoint, cause, detail);
    if status.is_redirection() {
        return Err(bad(
            BadResponse::Redirect,
            format!("HTTP {status}: redirects are not followed"),
        ));
    }
    let headers: usize = response
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > bounds.header_bytes {
        return Err(bad(
            BadResponse::Headers,
            format!(
                "{headers} bytes of headers, more than {}",
                bounds.header_bytes
            ),
        ));
    }
    if let Some(coding) = response
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .filter(|v| v.as_bytes() != b"identity")
    {
        return Err(bad(
            BadResponse::Malformed,
            format!("a body compressed ({coding:?}) though none was asked for"),
        ));
    }
    let limit = bounds.body(kind);
    let announced = response.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(bad(
            BadResponse::TooLarge,
            format!("Content-Length {announced}, more than {limit} bytes"),
        ));
    }
    let mut body = Vec::with_capacity((announced as usize).min(limit));
    while let Some(chunk) = response.chunk().await.map_err(&transport)? {
        if body.len() + chunk.len() > limit {
            return Err(bad(
                BadResponse::TooLarge,
                format!("a body of more than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let nesting = depth(&body);
    if nesting > bounds.json_depth {
        return Err(bad(
            BadResponse::TooDeep,
            format!(
                "JSON nested {nesting} deep, more than {}",
                bounds.json_depth
            ),
        ));
    }
    Ok((status, body))
}

/// How deep the JSON in `bytes` nests (objects and arrays), brackets inside strings
/// not counted. Meant for bodies that are then parsed: it does not check them.
pub fn depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert_eq!(depth(b"{}"), 1);
        assert_eq!(depth(br#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(depth(br#"{"a":"[[[[{{{{"}"#), 1, "inside a string");
        assert_eq!(depth(br#"{"a":"\"[[[","b":[]}"#), 2, "an escaped quote");
        assert_eq!(depth(br#"{"a":"\\","b":[[]]}"#), 3, "an escaped backslash");
        assert_eq!(depth(&[b'['; 100_000]), 100_000);
        assert_eq!(depth(b"]]]"), 0);
    }
}
