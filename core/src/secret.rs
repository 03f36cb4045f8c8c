//! The app password itself: generation, display and input normalising.

use rand_core::{CryptoRng, RngCore};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Letters in a secret: four groups of four.
pub const SECRET_LEN: usize = 16;
const GROUP_LEN: usize = 4;

/// A candidate or generated secret reduced to its 16 lower-case ASCII letters.
/// Zeroized on drop; `Debug` never shows the letters.
pub struct NormalizedSecret(Zeroizing<[u8; SECRET_LEN]>);

impl NormalizedSecret {
    /// Normalises what a user typed: ASCII spaces and dashes are dropped and
    /// ASCII letters lower-cased. Anything else (digits, punctuation, any
    /// non-ASCII byte, including look-alike letters) rejects the candidate, as
    /// does a letter count other than 16. Stops reading as soon as the answer
    /// is known, so a 5,000-byte token costs no more than a short one.
    pub fn from_candidate(candidate: &[u8]) -> Option<Self> {
        let mut letters = Zeroizing::new([0u8; SECRET_LEN]);
        let mut count = 0usize;
        for &byte in candidate {
            match byte {
                b' ' | b'-' => {}
                b if b.is_ascii_alphabetic() => {
                    if count == SECRET_LEN {
                        return None;
                    }
                    letters[count] = b.to_ascii_lowercase();
                    count += 1;
                }
                _ => return None,
            }
        }
        (count == SECRET_LEN).then_some(Self(letters))
    }

    /// A fresh secret: 16 letters drawn uniformly from the 26, by rejection
    /// sampling so that no letter is more likely than another.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        // 234 = 9 * 26: bytes at or above it would bias the modulo.
        const LIMIT: u8 = 234;
        let mut letters = Zeroizing::new([0u8; SECRET_LEN]);
        let mut buf = Zeroizing::new([0u8; 32]);
        let mut count = 0usize;
        while count < SECRET_LEN {
            rng.fill_bytes(&mut buf[..]);
            for &byte in buf.iter() {
                if byte < LIMIT && count < SECRET_LEN {
                    letters[count] = b'a' + byte % 26;
                    count += 1;
                }
            }
        }
        Self(letters)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// The form shown to the administrator once: `abcd-efgh-ijkl-mnop`.
    pub fn display(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(SECRET_LEN + 3));
        for (i, group) in self.0.chunks(GROUP_LEN).enumerate() {
            if i > 0 {
                out.push('-');
            }
            for &b in group {
                out.push(char::from(b));
            }
        }
        out
    }
}

impl fmt::Debug for NormalizedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NormalizedSecret([redacted])")
    }
}

impl Drop for NormalizedSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn norm(s: &[u8]) -> Option<String> {
        NormalizedSecret::from_candidate(s)
            .map(|n| String::from_utf8(n.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn dashes_spaces_and_case_are_normalised() {
        let want = Some("abcdefghijklmnop".to_string());
        assert_eq!(norm(b"abcd-efgh-ijkl-mnop"), want);
        assert_eq!(norm(b"ABCD EFGH IJKL MNOP"), want);
        assert_eq!(norm(b"  abcdefghijklmnop--"), want);
        assert_eq!(norm(b"aBcD-eFgH ijkl-MNOP"), want);
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        assert_eq!(norm(b""), None);
        assert_eq!(norm(b"abcd-efgh-ijkl-mno"), None, "15 letters");
        assert_eq!(norm(b"abcd-efgh-ijkl-mnopq"), None, "17 letters");
        assert_eq!(norm(b"abcd-efgh-ijkl-mn0p"), None, "digit");
        assert_eq!(norm(b"abcd_efgh_ijkl_mnop"), None, "underscore");
        assert_eq!(norm(b"abcd\tefgh-ijkl-mnop"), None, "tab is not a space");
        assert_eq!(norm(&[b'a'; 5000]), None, "long token");
        assert_eq!(norm(&[0xff, 0xfe, b'a']), None, "not UTF-8");
    }

    #[test]
    fn non_ascii_look_alikes_are_rejected() {
        // Cyrillic a, fullwidth A, Latin small letter dotless i, Kelvin sign.
        for lookalike in ["а", "Ａ", "ı", "\u{212A}"] {
            let candidate = format!("abcd-efgh-ijkl-mno{lookalike}");
            assert_eq!(norm(candidate.as_bytes()), None, "{lookalike}");
        }
        // Non-breaking space and en dash are not separators.
        assert_eq!(norm("abcd\u{a0}efgh-ijkl-mnop".as_bytes()), None);
        assert_eq!(norm("abcd\u{2013}efgh-ijkl-mnop".as_bytes()), None);
    }

    #[test]
    fn generated_secrets_have_the_display_shape_and_round_trip() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let s = NormalizedSecret::generate(&mut rng);
            let shown = s.display();
            assert_eq!(shown.len(), 19);
            let groups: Vec<&str> = shown.split('-').collect();
            assert_eq!(groups.len(), 4);
            assert!(groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_lowercase())));
            let back = NormalizedSecret::from_candidate(shown.as_bytes()).unwrap();
            assert_eq!(back.as_bytes(), s.as_bytes());
        }
    }

    #[test]
    fn generation_uses_every_letter() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = [0u32; 26];
        for _ in 0..500 {
            for &b in NormalizedSecret::generate(&mut rng).as_bytes() {
                seen[usize::from(b - b'a')] += 1;
            }
        }
        // 8,000 letters: each of the 26 expected ~308 times.
        assert!(seen.iter().all(|&n| n > 200 && n < 420), "{seen:?}");
    }

    /// Random inputs against an independent model of the rule.
    #[test]
    fn normalising_matches_the_model_on_random_input() {
        use rand::Rng;
        let mut rng = StdRng::seed_from_u64(99);
        let alphabet: Vec<u8> = b"abcXYZ -_09\t\0"
            .iter()
            .copied()
            .chain([0x80, 0xc3, 0xa9, 0xff])
            .collect();
        for _ in 0..20_000 {
            let len = rng.gen_range(0..40);
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.gen_bool(0.8) {
                        b'a' + rng.gen_range(0..26)
                    } else {
                        alphabet[rng.gen_range(0..alphabet.len())]
                    }
                })
                .collect();
            let allowed = input
                .iter()
                .all(|b| b.is_ascii_alphabetic() || *b == b' ' || *b == b'-');
            let letters: Vec<u8> = input
                .iter()
                .filter(|b| b.is_ascii_alphabetic())
                .map(u8::to_ascii_lowercase)
                .collect();
            let want = (allowed && letters.len() == 16).then_some(letters);
            let got = NormalizedSecret::from_candidate(&input).map(|n| n.as_bytes().to_vec());
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let s = NormalizedSecret::from_candidate(b"abcdefghijklmnop").unwrap();
        assert!(!format!("{s:?}").contains("abcd"));
    }
}
