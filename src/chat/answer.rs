//! Reading an answer defensively before its events: a head whose body cannot be the wire
//! format's events is refused, and whole bodies (an error's, a non-streamed answer) are
//! read only up to a cap, so a hostile or broken server cannot fill memory.

use std::time::Duration;

use reqwest::Response;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap};

use crate::Error;

/// The most of an error answer's body that is read and kept (its start): far more than
/// any API's error object; the rest of a larger body is not read.
pub(crate) const ERROR_BODY_MAX: usize = 64 << 10;

/// The most characters of a refused page quoted in the error.
const EXCERPT_CHARS: usize = 300;

/// Reads a body's first `limit` bytes as text (lossily: a byte that is not UTF-8 becomes
/// U+FFFD); `true` with it when there was more. The rest is left unread: the connection
/// goes with the response.
pub(crate) async fn read_capped(
    mut resp: Response,
    limit: usize,
) -> reqwest::Result<(String, bool)> {
    let mut buf = Vec::new();
    while let Some(bytes) = resp.chunk().await? {
        let room = limit - buf.len();
        if bytes.len() > room {
            buf.extend_from_slice(&bytes[..room]);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), true));
        }
        buf.extend_from_slice(&bytes);
    }
    Ok((String::from_utf8_lossy(&buf).into_owned(), false))
}

/// Checks a successful answer's head, giving the response back when its body may be the
/// wire format's events. Refused, with [`Error::InvalidResponse`]: a `Content-Encoding`
/// other than `identity` (the client asks for no compression and decodes none, so the
/// bytes would be read as garbage), and an HTML page (a proxy's, a gateway's or a captive
/// portal's, sent with status 200), quoted in the error. Other content types are read:
/// servers label event streams loosely (`text/plain`, `application/json`).
pub(crate) async fn check_head(resp: Response, url: &str) -> Result<Response, Error> {
    let refuse = |message: String| Error::InvalidResponse {
        url: url.to_owned(),
        message,
    };
    if let Some(encoding) = encoding(resp.headers()) {
        return Err(refuse(format!(
            "the answer is `{encoding}`-encoded (Content-Encoding), which this client \
             neither asked for nor decodes"
        )));
    }
    let Some(kind) = html(resp.headers()) else {
        return Ok(resp);
    };
    let page = match read_capped(resp, ERROR_BODY_MAX).await {
        Ok((text, _)) => excerpt(&text),
        Err(e) => format!("(its body could not be read: {e})"),
    };
    Err(refuse(format!(
        "expected the answer's events, got a `{kind}` page: {page}"
    )))
}

/// A `Content-Encoding` other than `identity`, as sent.
fn encoding(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(CONTENT_ENCODING)?
        .to_str()
        .unwrap_or("(not text)");
    let value = value.trim();
    (!value.is_empty() && !value.eq_ignore_ascii_case("identity")).then(|| value.to_owned())
}

/// The media type, when it is HTML.
fn html(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or_default().trim();
    ["text/html", "application/xhtml+xml"]
        .iter()
        .any(|t| media.eq_ignore_ascii_case(t))
        .then(|| media.to_ascii_lowercase())
}

/// A page's text for an error message: its tags left out, its white space collapsed, at
/// most [`EXCERPT_CHARS`] characters.
fn excerpt(page: &str) -> String {
    let mut out = String::new();
    let (mut in_tag, mut space, mut count) = (false, false, 0);
    for c in page.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                space = true;
            }
            _ if in_tag => {}
            c if c.is_whitespace() => space = true,
            c => {
                if count >= EXCERPT_CHARS {
                    out.push('…');
                    return out;
                }
                if space && count > 0 {
                    out.push(' ');
                    count += 1;
                }
                space = false;
                out.push(c);
                count += 1;
            }
        }
    }
    out
}

/// A failed HTTP exchange as the crate's error: a timeout (after `limit`), a connection
/// that could not be made, or the transport's error.
pub(crate) fn http_error(url: &str, e: reqwest::Error, limit: Option<Duration>) -> Error {
    if e.is_timeout() {
        return Error::Timeout {
            operation: "chat request (http_timeout)",
            after: limit.unwrap_or_default(),
        };
    }
    if e.is_connect() {
        return Error::Connect {
            url: url.to_owned(),
            source: std::sync::Arc::new(e),
        };
    }
    Error::transport(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_quoted_as_its_text() {
        let page = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n\
                    <body><h1>Bad   Gateway</h1><p>nginx</p></body></html>";
        assert_eq!(excerpt(page), "502 Bad Gateway Bad Gateway nginx");
        let long = "x ".repeat(1000);
        let quoted = excerpt(&long);
        assert!(quoted.chars().count() <= EXCERPT_CHARS + 2, "{quoted}");
        assert!(quoted.ends_with('…'));
        assert_eq!(excerpt("caf\u{e9}"), "caf\u{e9}");
    }

    #[test]
    fn encodings_and_html_types_are_recognised() {
        let mut h = HeaderMap::new();
        assert_eq!(encoding(&h), None);
        h.insert(CONTENT_ENCODING, "Identity".parse().unwrap());
        assert_eq!(encoding(&h), None);
        h.insert(CONTENT_ENCODING, " gzip ".parse().unwrap());
        assert_eq!(encoding(&h).as_deref(), Some("gzip"));
        h.insert(CONTENT_TYPE, "text/event-stream".parse().unwrap());
        assert_eq!(html(&h), None);
        h.insert(CONTENT_TYPE, "Text/HTML; charset=utf-8".parse().unwrap());
        assert_eq!(html(&h).as_deref(), Some("text/html"));
    }
}
