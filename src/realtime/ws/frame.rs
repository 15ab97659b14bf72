//! WebSocket frames (RFC 6455 §5) as a client sees them: headers of the server's frames
//! parsed and checked, the client's own frames written masked.

use super::WsError;

pub(crate) const CONTINUATION: u8 = 0x0;
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PING: u8 = 0x9;
pub(crate) const PONG: u8 = 0xA;

/// A server frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The last frame of its message.
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
    /// The payload's length.
    pub(crate) len: u64,
    /// The header's own length in bytes.
    pub(crate) size: usize,
}

/// Parses the header of a server frame at the start of `b`; `Ok(None)` when `b` does not
/// hold all of it yet. A header RFC 6455 does not allow from a server (reserved bits
/// without an extension, an unknown opcode, a mask, a fragmented or long control frame)
/// is a protocol error.
pub(crate) fn parse_header(b: &[u8]) -> Result<Option<Header>, WsError> {
    let [first, second, ..] = *b else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(WsError::Protocol(
            "a frame with reserved bits set (no extension was agreed)",
        ));
    }
    let fin = first & 0x80 != 0;
    let opcode = first & 0x0f;
    if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
        return Err(WsError::Protocol("a frame with an unknown opcode"));
    }
    if second & 0x80 != 0 {
        return Err(WsError::Protocol("a masked frame (only clients mask)"));
    }
    let (len, size) = match second & 0x7f {
        126 => match b.get(2..4) {
            Some(n) => (u64::from(u16::from_be_bytes([n[0], n[1]])), 4),
            None => return Ok(None),
        },
        127 => match b.get(2..10) {
            Some(n) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(n);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(WsError::Protocol("a frame length with its top bit set"));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode >= CLOSE {
        if !fin {
            return Err(WsError::Protocol("a fragmented control frame"));
        }
        if len > 125 {
            return Err(WsError::Protocol("a control frame over 125 bytes"));
        }
    }
    Ok(Some(Header {
        fin,
        opcode,
        len,
        size,
    }))
}

/// Appends one whole client frame to `out`: `payload` masked with `mask`, as RFC 6455
/// requires of every frame a client sends.
pub(crate) fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0x80 | 126);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// XORs `b` with the repeated `mask`, four bytes at a time.
fn apply_mask(b: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut words = b.chunks_exact_mut(4);
    for w in &mut words {
        let v = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) ^ word;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (x, m) in words.into_remainder().iter_mut().zip(mask) {
        *x ^= m;
    }
}

/// A close frame's status code and reason (`None`: no status, which reads as 1005). A
/// one-byte payload, a code no endpoint may send, or a reason that is not UTF-8 is an
/// error.
pub(crate) fn parse_close(p: &[u8]) -> Result<Option<(u16, String)>, WsError> {
    let [a, b, reason @ ..] = p else {
        return match p.len() {
            0 => Ok(None),
            _ => Err(WsError::Protocol("a close frame with a 1-byte payload")),
        };
    };
    let code = u16::from_be_bytes([*a, *b]);
    // RFC 6455 §7.4: 1004-1006 and 1015 are never sent; below 1000, 1016-2999 and from
    // 5000 are not codes.
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return Err(WsError::Protocol(
            "a close frame with a code no endpoint may send",
        ));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| WsError::Utf8)?;
    Ok(Some((code, reason.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(b: &[u8]) -> Header {
        parse_header(b).unwrap().unwrap()
    }

    #[test]
    fn lengths_in_all_three_forms() {
        let h = header(&[0x81, 5]);
        assert_eq!((h.fin, h.opcode, h.len, h.size), (true, TEXT, 5, 2));
        let h = header(&[0x01, 126, 0x01, 0x00]);
        assert_eq!((h.fin, h.opcode, h.len, h.size), (false, TEXT, 256, 4));
        let h = header(&[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!((h.opcode, h.len, h.size), (BINARY, 1 << 32, 10));
        // Cut anywhere, it asks for more.
        for b in [
            &[][..],
            &[0x81],
            &[0x81, 126, 1],
            &[0x81, 127, 0, 0, 0, 0, 0, 0, 1],
        ] {
            assert_eq!(parse_header(b).unwrap(), None, "{b:?}");
        }
    }

    #[test]
    fn headers_a_server_may_not_send_are_errors() {
        for (b, what) in [
            (&[0xC1, 0][..], "reserved"),
            (&[0x83, 0], "opcode"),
            (&[0x8B, 0], "opcode"),
            (&[0x81, 0x80, 1, 2, 3, 4], "masked"),
            (&[0x09, 0], "fragmented control"),
            (&[0x89, 126, 0, 126], "over 125"),
            (&[0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], "top bit"),
        ] {
            let err = parse_header(b).unwrap_err().to_string();
            assert!(err.contains(what), "{b:?}: {err}");
        }
    }

    #[test]
    fn client_frames_are_masked_and_read_back() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for n in [0usize, 3, 125, 126, 65_535, 65_536, 100_003] {
            let payload: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let mut out = vec![0xEE];
            write_frame(&mut out, TEXT, &payload, mask);
            let b = &out[1..];
            // The server's view: the mask bit is set, so unset it to reuse the parser.
            let mut unmasked_header = b.to_vec();
            unmasked_header[1] &= 0x7f;
            let h = header(&unmasked_header);
            assert_eq!((h.fin, h.opcode, h.len), (true, TEXT, n as u64));
            assert_eq!(&b[h.size..h.size + 4], &mask);
            let mut body = b[h.size + 4..].to_vec();
            assert_eq!(body.len(), n);
            for (i, x) in body.iter_mut().enumerate() {
                *x ^= mask[i % 4];
            }
            assert_eq!(body, payload, "{n} bytes");
        }
        // RFC 6455 §5.7: a masked "Hello".
        let mut out = Vec::new();
        write_frame(&mut out, TEXT, b"Hello", mask);
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(b"").unwrap(), None);
        assert_eq!(
            parse_close(b"\x03\xe9going").unwrap(),
            Some((1001, "going".to_owned()))
        );
        assert_eq!(
            parse_close(b"\x0f\x9f").unwrap(),
            Some((3999, String::new()))
        );
        assert!(parse_close(b"\x03").is_err());
        for code in [999u16, 1004, 1005, 1006, 1015, 2999, 5000] {
            let p = code.to_be_bytes();
            assert!(parse_close(&p).is_err(), "{code}");
        }
        assert!(matches!(parse_close(b"\x03\xe8\xff"), Err(WsError::Utf8)));
    }
}
