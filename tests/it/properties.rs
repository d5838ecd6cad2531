//! Property tests for the IP/CIDR and permission parsers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use keyward::domain::ip::{IpAllowlist, IpEntry};
use keyward::domain::permission::{ACTIONS, Permission, Permissions, SCOPES, TYPES};
use proptest::prelude::*;

proptest! {
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
