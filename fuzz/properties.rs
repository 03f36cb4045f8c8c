//! What each fuzz target asserts about one input. Shared, through `#[path]`,
//! by the `cargo fuzz` targets and by the stable test that replays the seed
//! corpus in `make check` (core/tests/fuzz_corpus.rs).

use apppass_core::expiry;
use apppass_core::hashing::{StoredHash, MAX_M_COST_KIB, MIN_M_COST_KIB};
use apppass_core::module_args;
use apppass_core::secret::NormalizedSecret;
use apppass_core::time::rfc3339;

/// Longest `--expires` accepted: the parser's own bound of about 100 years.
const MAX_EXPIRY_SECONDS: i64 = 100 * 366 * 86_400;

/// Password normalising matches its model exactly: spaces and hyphens are
/// dropped, ASCII letters lower-cased, anything else refuses the candidate,
/// and exactly 16 letters must remain. An accepted secret round-trips
/// through the form shown to the administrator.
pub fn normalize(data: &[u8]) {
    let allowed = data
        .iter()
        .all(|b| b.is_ascii_alphabetic() || *b == b' ' || *b == b'-');
    let letters: Vec<u8> = data
        .iter()
        .filter(|b| b.is_ascii_alphabetic())
        .map(u8::to_ascii_lowercase)
        .collect();
    let expected = (allowed && letters.len() == 16).then_some(letters);
    let got = NormalizedSecret::from_candidate(data);
    assert_eq!(got.as_ref().map(|s| s.as_bytes().to_vec()), expected);
    if let Some(secret) = got {
        let shown = secret.display();
        let back = NormalizedSecret::from_candidate(shown.as_bytes()).expect("display round trip");
        assert_eq!(back.as_bytes(), secret.as_bytes());
    }
}

/// `--expires`: the first 8 bytes pick "now" (any second from 1970 to
/// 2100), the rest is the text. An accepted expiry lies between now and
/// 100 years ahead; a date means the end of that day, a duration a whole
/// number of hours. A refusal is one printable sentence.
pub fn expiry(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let (head, text) = data.split_at(8);
    let raw = u64::from_le_bytes(head.try_into().expect("8 bytes"));
    let now = (raw % 4_102_444_800) as i64;
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    match expiry::parse(text, now) {
        Ok(end) => {
            assert!(end >= now, "{text:?} at {now} ends before now");
            assert!(end - now <= MAX_EXPIRY_SECONDS, "{text:?} too far");
            if text.len() == 10 && text.as_bytes()[4] == b'-' {
                assert_eq!(rfc3339(end), format!("{text}T23:59:59Z"));
            } else {
                assert!(end > now && (end - now) % 3600 == 0, "{text:?}");
            }
        }
        Err(e) => assert_printable(&e.to_string()),
    }
}

/// Module arguments (NUL-separated, as libpam hands them over as C
/// strings) parse exactly when every one is known, `db=`, `config=` and
/// `socket=` come at most once each and name an absolute UTF-8 path. A
/// refusal is printable and bounded, so a hostile argument cannot flood or
/// forge syslog lines.
pub fn module_args(data: &[u8]) {
    let args: Vec<&[u8]> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|b| *b == 0).collect()
    };
    let mut counts = [0; 3];
    let absolute = |path: &[u8]| std::str::from_utf8(path).is_ok_and(|p| p.starts_with('/'));
    let model_ok = args.iter().all(|a| match *a {
        b"debug" | b"use_first_pass" | b"try_first_pass" => true,
        _ => {
            let named = [&b"db="[..], b"config=", b"socket="]
                .iter()
                .position(|p| a.starts_with(p));
            match named {
                Some(i) => {
                    counts[i] += 1;
                    absolute(&a[[3, 7, 7][i]..])
                }
                None => false,
            }
        }
    }) && counts.iter().all(|&n| n <= 1);
    match module_args::parse(&args) {
        Ok(parsed) => {
            assert!(model_ok, "accepted {args:?}");
            assert!(parsed.db.is_none_or(|d| d.is_absolute()));
            assert!(parsed.config.is_none_or(|c| c.is_absolute()));
            assert!(parsed.socket.is_none_or(|s| s.is_absolute()));
            assert_eq!(parsed.debug, args.contains(&&b"debug"[..]));
        }
        Err(e) => {
            assert!(!model_ok, "refused {args:?}: {e}");
            let msg = e.to_string();
            assert_printable(&msg);
            assert!(msg.len() <= 4 * 512 + 100, "message of {} bytes", msg.len());
        }
    }
}

/// A stored PHC string read back from the store never panics the parser,
/// whatever it holds, and what it accepts asks for argon2 memory between
/// the floor and the cap. (Every accepted hash costs at least the floor,
/// 19 MiB and two passes: too slow to verify once per input, so the
/// verifier is left to the unit tests.)
pub fn phc(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(hash) = StoredHash::parse(text) else {
        return;
    };
    assert!(hash.block_count() <= MAX_M_COST_KIB as usize);
    assert!(hash.block_count() >= MIN_M_COST_KIB as usize);
}

fn assert_printable(msg: &str) {
    assert!(
        !msg.chars().any(char::is_control),
        "control character in {msg:?}"
    );
}
