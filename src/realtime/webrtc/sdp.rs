//! What the calls endpoint answers, made ready to use: the SDP answer normalised, the
//! call id from `Location`.

/// The answer with a direction on every media section that lacks one: OpenAI's
/// documented answer has none on its audio (`m=audio`), which SDP reads as `sendrecv`
/// (RFC 8866 §6.7) but which a strict parser refuses. Line endings become CRLF.
pub(crate) fn normalise_answer(answer: &str) -> String {
    let mut out = String::with_capacity(answer.len() + 16);
    let mut in_media = false;
    let mut has_direction = false;
    let close_section = |out: &mut String, in_media: bool, has_direction: bool| {
        if in_media && !has_direction {
            out.push_str("a=sendrecv\r\n");
        }
    };
    for line in answer.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if line.starts_with("m=") {
            close_section(&mut out, in_media, has_direction);
            // A data channel's section (`m=application`) carries no direction.
            in_media = !line.starts_with("m=application");
            has_direction = false;
        } else if matches!(
            line,
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        ) {
            has_direction = true;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    close_section(&mut out, in_media, has_direction);
    out
}

/// The call id in a `Location` header: its last path segment (`/v1/realtime/calls/rtc_…`).
pub(crate) fn call_id_of(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next()?;
    let id = path.trim_end_matches('/').rsplit('/').next()?;
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audio_section_without_a_direction_gets_sendrecv() {
        let answer = "v=0\no=- 1 2 IN IP4 0.0.0.0\ns=-\nt=0 0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:0\na=rtpmap:111 opus/48000/2\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=mid:1\n";
        let fixed = normalise_answer(answer);
        assert_eq!(fixed.matches("a=sendrecv").count(), 1);
        let audio = &fixed[fixed.find("m=audio").unwrap()..fixed.find("m=application").unwrap()];
        assert!(audio.ends_with("a=sendrecv\r\n"), "{audio}");
        assert!(!fixed.contains("\n\n") && fixed.lines().count() == 10);
    }

    #[test]
    fn a_section_with_a_direction_is_left_alone() {
        let answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\na=mid:0\r\n";
        assert_eq!(normalise_answer(answer), answer);
        let two = "m=audio 9 X 0\r\na=mid:0\r\nm=audio 9 X 0\r\na=inactive\r\n";
        assert_eq!(normalise_answer(two).matches("a=sendrecv").count(), 1);
    }

    #[test]
    fn the_call_id_is_the_last_segment_of_location() {
        assert_eq!(
            call_id_of("/v1/realtime/calls/rtc_u1_9c6574da8b8a41a18da9308f4ad974ce").as_deref(),
            Some("rtc_u1_9c6574da8b8a41a18da9308f4ad974ce")
        );
        assert_eq!(
            call_id_of("https://api.openai.com/v1/realtime/calls/rtc_1/").as_deref(),
            Some("rtc_1")
        );
        assert_eq!(
            call_id_of("/v1/realtime/calls/rtc_1?x=y").as_deref(),
            Some("rtc_1")
        );
        assert_eq!(call_id_of(""), None);
        assert_eq!(call_id_of("/calls/a b"), None);
    }
}
