use super::*;

#[test]
fn quantity_rows_follow_the_discriminants() {
    let read: Vec<Q> = Q::all().collect();
    assert_eq!(read.len(), Q::COUNT, "every Q has one row");
    for (i, q) in read.iter().enumerate() {
        assert_eq!(*q as usize, i, "{}", q.path());
        assert_eq!(Q::of_path(q.path()), Some(*q));
    }
}

#[test]
fn every_path_is_unique() {
    let mut seen = std::collections::HashSet::new();
    for p in CATALOGUE {
        assert!(seen.insert(p.path), "{} twice", p.path);
    }
}

#[test]
fn table_rules_read_from_members() {
    for p in CATALOGUE {
        if !matches!(p.rule, Rule::Formula(_) | Rule::Bms) {
            assert!(p.read.is_some(), "{}: a table rule needs member values", p.path);
        }
    }
}

#[test]
fn rounds_to_the_resolution() {
    assert_eq!(round_to(13.2700000001, 0.01), 13.27);
    assert_eq!(round_to(13.274999, 0.01), 13.27);
    assert_eq!(round_to(-0.04, 0.1), 0.0);
    assert!(round_to(-0.04, 0.1).is_sign_positive());
    assert_eq!(round_to(3599.0, 60.0), 3600.0);
    assert_eq!(round_to(180.364, 1.0), 180.0);
    let soc = quantity(SOC).unwrap();
    assert_eq!(soc.value(Some(88.5999)), Value::Double(88.6));
    assert_eq!(soc.value(None), Value::Invalid);
    let online = quantity(MODULES_ONLINE).unwrap();
    assert_eq!(online.value(Some(2.0)), Value::Uint(2));
    assert_eq!(online.value(Some(-1.0)), Value::Uint(0));
}
