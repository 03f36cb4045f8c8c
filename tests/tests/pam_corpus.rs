//! The `pam_authenticate` fuzz target's corpus replayed on stable, plus
//! structured noise: logins through real libpam into the built module,
//! checked against the oracle in fuzz/pam_properties.rs.

#[path = "../../fuzz/pam_properties.rs"]
mod pam_properties;
// Drawn logins below instead of replay's byte noise, which seldom forms a
// login this target reads.
#[allow(dead_code)]
#[path = "../../fuzz/replay.rs"]
mod replay;

#[test]
fn the_pam_authenticate_corpus_still_passes() {
    let (logins, successes) = pam_properties::counts();
    replay::replay("pam_authenticate", pam_properties::login);
    let (logins, successes) = (
        pam_properties::counts().0 - logins,
        pam_properties::counts().1 - successes,
    );
    assert!(logins >= 15, "only {logins} seeds reached libpam");
    assert!(successes >= 6, "only {successes} seeds logged in");
}

/// Drawn logins in the target's input format: 3,000, one in ten with a
/// (varied) right secret.
#[test]
fn drawn_logins_through_libpam_let_only_the_right_ones_in() {
    let mut rng = apppass_e2e::draw::Rng(0x0dd_ba11);
    let users: &[&[u8]] = &[
        b"=",
        b"=",
        b"=",
        b"FUZZ@example.org",
        b"fuzz@example.org ",
        b"\xff",
    ];
    // Numeric only: libpam's audit record resolves any other remote host
    // (a bracketed or scoped address too), which can take seconds here.
    let hosts: &[&[u8]] = &[
        b"127.0.0.1",
        b"127.9.9.9",
        b"::ffff:127.0.0.5",
        b"10.1.1.1",
        b"::1",
        b"",
        b"127.000.0.1",
    ];
    let tokens: &[&[u8]] = &[b"aaaa-bbbb-cccc-dddd", b"", b"\xef\xbd\x81bcd", b"x"];
    let (before, ok_before) = pam_properties::counts();
    for _ in 0..3_000 {
        let mut input = vec![rng.draw() as u8];
        if input[0] >= 200 {
            let raw: &[&[u8]] = &[b"imap", b"Submission", b"apppass-web", b"x.y"];
            input.extend_from_slice(rng.pick::<&[u8]>(raw));
            input.push(0);
        }
        input.extend_from_slice(rng.pick::<&[u8]>(users));
        input.push(0);
        input.extend_from_slice(rng.pick::<&[u8]>(hosts));
        input.push(0);
        if rng.below(10) == 0 {
            input.push(1 + rng.below(2) as u8);
            for _ in 0..rng.below(4) {
                input.push(rng.draw() as u8);
            }
        } else {
            input.extend_from_slice(rng.pick::<&[u8]>(tokens));
        }
        pam_properties::login(&input);
    }
    let (logins, successes) = pam_properties::counts();
    let (logins, successes) = (logins - before, successes - ok_before);
    eprintln!("drawn: {logins} logins through libpam, {successes} succeeded");
    assert!(
        logins > 2_500 && successes > 20,
        "{logins} logins, {successes} successes"
    );
}
