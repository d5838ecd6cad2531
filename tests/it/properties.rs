//! Property tests for the IP/CIDR and permission parsers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use keyward::domain::ip::{IpAllowlist, IpEntry};
use keyward::domain::permission::{ACTIONS, Permission, Permissions, SCOPES, TYPES};
use proptest::prelude::*;

/// One allowlist entry as a person might type it: an IPv4 or IPv6 address,
/// with or without a prefix length, with spaces around it.
fn typed_entry() -> impl Strategy<Value = String> {
    let v4 = (any::<u32>(), proptest::option::of(0u8..=32)).prop_map(|(a, prefix)| {
        let ip = Ipv4Addr::from(a);
        prefix.map_or(ip.to_string(), |p| format!("{ip}/{p}"))
    });
    let v6 = (any::<[u16; 8]>(), proptest::option::of(0u8..=128)).prop_map(|(s, prefix)| {
        let ip = Ipv6Addr::from(s);
        prefix.map_or(ip.to_string(), |p| format!("{ip}/{p}"))
    });
    (prop_oneof![v4, v6], "[ ]{0,2}").prop_map(|(entry, pad)| format!("{pad}{entry}{pad}"))
}

/// A permission of known parts, as scope text, with or without a resource.
fn typed_permission() -> impl Strategy<Value = String> {
    (
        0..TYPES.len(),
        0..ACTIONS.len(),
        0..SCOPES.len(),
        "[a-z0-9][a-z0-9-]{0,11}",
    )
        .prop_map(|(t, a, s, resource)| {
            if SCOPES[s] == "org" {
                format!("{}:{}:org", TYPES[t], ACTIONS[a])
            } else {
                format!("{}:{}:{}:{resource}", TYPES[t], ACTIONS[a], SCOPES[s])
            }
        })
}

proptest! {
    #[test]
    fn lists_of_up_to_six_typed_entries_are_accepted_in_normal_form(
        entries in proptest::collection::vec(typed_entry(), 1..=6),
        separator in prop_oneof![Just("\n"), Just(","), Just(",\n"), Just("\r\n")],
    ) {
        let text = entries.join(separator);
        let normal: Vec<IpEntry> = entries.iter().map(|e| IpEntry::parse(e.trim()).unwrap().0).collect();
        let distinct = normal.iter().enumerate().all(|(i, e)| !normal[..i].contains(e));
        match IpAllowlist::parse_limited(&text) {
            Ok((list, _)) => {
                prop_assert!(distinct);
                prop_assert_eq!(IpAllowlist::parse_stored(&list.to_stored()), Some(list.clone()));
                // Each entry as typed, normalised, in the order typed; and
                // 0.0.0.0/0 alone is all addresses, as it is written.
                let shown: Vec<String> = normal.iter().map(ToString::to_string).collect();
                prop_assert_eq!(list.entries(), shown.clone());
                prop_assert_eq!(list.is_all(), shown == ["0.0.0.0/0"]);
            }
            Err(errors) => {
                // Only a network typed twice (after normalising) is refused.
                prop_assert!(!distinct, "refused {text:?}: {errors:?}");
                prop_assert!(errors.iter().all(|e| e.message.ends_with("is listed twice.")), "{errors:?}");
            }
        }
    }

    #[test]
    fn seven_entries_are_one_too_many(entries in proptest::collection::vec(typed_entry(), 7..=7)) {
        let errors = IpAllowlist::parse_limited(&entries.join("\n")).unwrap_err();
        prop_assert!(errors.iter().any(|e| e.message == "A credential can have at most 6 IP entries; remove 1."), "{errors:?}");
    }

    #[test]
    fn typed_permissions_parse_and_print_back_as_typed(texts in proptest::collection::vec(typed_permission(), 1..8)) {
        for text in &texts {
            prop_assert_eq!(Permission::parse(text).unwrap().to_string(), text.clone());
        }
        let set = Permissions::parse(&texts.join(" ")).unwrap();
        prop_assert!(set.len() <= texts.len() && !set.is_empty());
        prop_assert_eq!(Permissions::parse(&set.to_scope_string()).unwrap(), set);
    }

    #[test]
    fn any_ipv4_network_normalises_to_a_network_holding_the_address(a: u32, prefix in 0u8..=32) {
        let ip = Ipv4Addr::from(a);
        let (entry, note) = IpEntry::parse(&format!("{ip}/{prefix}")).unwrap();
        prop_assert!(entry.contains(&IpAddr::V4(ip)));
        // Normal form is a fixed point.
        let (again, again_note) = IpEntry::parse(&entry.to_string()).unwrap();
        prop_assert_eq!(again, entry);
        prop_assert!(again_note.is_none());
        prop_assert_eq!(note.is_none(), entry.to_string() == format!("{ip}/{prefix}"));
    }

    #[test]
    fn any_ipv6_address_parses_and_round_trips(segments: [u16; 8], prefix in 0u8..=128) {
        let ip = Ipv6Addr::from(segments);
        let (entry, _) = IpEntry::parse(&format!("{ip}/{prefix}")).unwrap();
        prop_assert!(entry.contains(&IpAddr::V6(ip)));
        let (plain, note) = IpEntry::parse(&ip.to_string()).unwrap();
        prop_assert!(note.is_none());
        prop_assert_eq!(IpEntry::parse(&plain.to_string()).unwrap().0, plain);
    }

    #[test]
    fn no_text_makes_the_allowlist_parser_panic(text in "\\PC{0,300}") {
        match IpAllowlist::parse_limited(&text) {
            Ok((list, _)) => prop_assert_eq!(IpAllowlist::parse_stored(&list.to_stored()), Some(list)),
            Err(errors) => prop_assert!(!errors.is_empty() && errors.iter().all(|e| !e.message.is_empty())),
        }
    }

    #[test]
    fn known_parts_round_trip_through_the_scope_form(
        t in 0..TYPES.len(), a in 0..ACTIONS.len(), s in 0..SCOPES.len(), resource in "[a-z0-9-]{0,12}",
    ) {
        let resource = if SCOPES[s] == "org" { String::new() } else { resource };
        let permission = Permission::from_parts(TYPES[t], ACTIONS[a], SCOPES[s], &resource).unwrap();
        prop_assert_eq!(Permission::parse(&permission.to_string()).unwrap(), permission.clone());
        let set = Permissions::new(vec![permission.clone(), permission]).unwrap();
        prop_assert_eq!(set.len(), 1);
        prop_assert_eq!(Permissions::parse(&set.to_scope_string()).unwrap(), set);
    }

    #[test]
    fn no_text_makes_the_permission_parser_panic(text in "\\PC{0,120}") {
        if let Ok(p) = Permission::parse(&text) {
            prop_assert!(TYPES.contains(&p.kind) && ACTIONS.contains(&p.action) && SCOPES.contains(&p.scope));
        }
    }
}

#[test]
fn a_limited_list_of_only_every_ipv4_address_is_all_addresses_as_stored() {
    // Stored as "0.0.0.0/0", it would read back as All (IPv6 included).
    for typed in ["0.0.0.0/0", " 10.1.2.3/0 "] {
        let (list, _) = IpAllowlist::parse_limited(typed).unwrap();
        assert!(list.is_all(), "{typed}");
        assert_eq!(IpAllowlist::parse_stored(&list.to_stored()), Some(list));
    }
    let (two, _) = IpAllowlist::parse_limited("0.0.0.0/0\n::/0").unwrap();
    assert!(!two.is_all());
    assert_eq!(IpAllowlist::parse_stored(&two.to_stored()), Some(two));
}
