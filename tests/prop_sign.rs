//! Property tests of the signer and the parameter encoder (issue #7). Bounded for CI; run longer with
//! `PROPTEST_CASES=100000 cargo test --release --test prop_sign`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_aliyun::sign::{
    form_decode, parse_v3_authorization, percent_encode, v1_canonical_query, v1_sign, v1_string_to_sign,
    v3_authorization,
};
use proptest::prelude::*;

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z][A-Za-z0-9.]{0,12}", any::<String>()), 0..8).prop_map(|mut v| {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        v
    })
}

proptest! {
    #[test]
    fn percent_encoding_round_trips_through_the_form_decoder(k in "[A-Za-z0-9]{1,8}", v in any::<String>()) {
        let encoded = format!("{}={}", percent_encode(&k), percent_encode(&v));
        prop_assert_eq!(form_decode(&encoded), vec![(k, v)]);
    }

    #[test]
    fn percent_encoding_leaves_only_unreserved_characters(s in any::<String>()) {
        let e = percent_encode(&s);
        prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)), "{}", e);
    }

    #[test]
    fn v1_signature_does_not_depend_on_parameter_order(mut p in params(), secret in "[ -~]{1,40}") {
        let a = v1_sign(&secret, &v1_string_to_sign("POST", &p));
        p.reverse();
        let b = v1_sign(&secret, &v1_string_to_sign("POST", &p));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn v1_canonical_query_decodes_back_to_the_parameters(p in params()) {
        let q = v1_canonical_query(&p);
        let mut back = form_decode(&q);
        back.sort();
        let mut want = p.clone();
        want.sort();
        prop_assert_eq!(back, want);
    }

    #[test]
    fn v1_signature_changes_with_any_value(p in params().prop_filter("non-empty", |p| !p.is_empty()), secret in "[a-z]{8}") {
        let a = v1_sign(&secret, &v1_string_to_sign("GET", &p));
        let mut q = p.clone();
        q[0].1.push('x');
        prop_assert_ne!(a, v1_sign(&secret, &v1_string_to_sign("GET", &q)));
    }

    #[test]
    fn v3_authorization_parses_back(key in "[A-Za-z0-9.]{4,30}", secret in "[ -~]{1,30}", names in prop::collection::btree_set("x-acs-[a-z]{1,10}", 1..5)) {
        let headers: Vec<(String, String)> = names.iter().map(|n| (n.clone(), "v".to_string())).collect();
        let header = v3_authorization(&key, &secret, "POST", "/", &[], &headers, "e3b0");
        let parsed = parse_v3_authorization(&header).expect("parses");
        prop_assert_eq!(parsed.credential, key);
        prop_assert_eq!(parsed.signed_headers, names.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(parsed.signature.len(), 64);
    }

    #[test]
    fn v3_authorization_parser_never_panics(s in any::<String>()) {
        let _ = parse_v3_authorization(&s);
    }

    #[test]
    fn form_decoder_never_panics(s in any::<String>()) {
        let _ = form_decode(&s);
    }
}
