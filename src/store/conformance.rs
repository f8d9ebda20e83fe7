//! What every [`Backend`] must do, as tests that take the backend: SQLite and
//! PostgreSQL run the same cases (see [`backend_conformance!`]), so the two keep the
//! same records, pages and retention.

use std::time::Duration;

use uuid::Uuid;

use super::tests::sample_call;
use super::{Backend, Packer, Query, Retention, Row, Stats, StoreError, TEXT_SCAN_WINDOW};
use crate::clock::now_micros;

/// One `#[test]` per conformance case; `$open` makes a fresh, empty store and returns
/// `(guard, store)`, the guard keeping its database alive for the test.
macro_rules! backend_conformance {
    ($open:expr) => {
        #[test]
        fn conformance_an_empty_store_answers_empty() {
            let (_guard, store) = $open;
            crate::store::conformance::an_empty_store_answers_empty(&store);
        }

        #[test]
        fn conformance_written_rows_read_back_exactly() {
            let (_guard, store) = $open;
            crate::store::conformance::written_rows_read_back_exactly(&store);
        }

        #[test]
        fn conformance_pages_filter_and_continue() {
            let (_guard, store) = $open;
            crate::store::conformance::pages_filter_and_continue(&store);
        }

        #[test]
        fn conformance_a_text_search_reads_one_window_per_page() {
            let (_guard, store) = $open;
            crate::store::conformance::a_text_search_reads_one_window_per_page(&store);
        }

        #[test]
        fn conformance_retention_by_age_and_by_size() {
            let (_guard, store) = $open;
            crate::store::conformance::retention_by_age_and_by_size(&store);
        }

        #[test]
        fn conformance_request_bodies_stored_as_differences_read_back_exactly() {
            let (_guard, store) = $open;
            crate::store::conformance::request_bodies_stored_as_differences_read_back_exactly(
                &store,
            );
        }

        #[test]
        fn conformance_bases_outlive_the_calls_that_name_them_and_no_longer() {
            let (_guard, store) = $open;
            crate::store::conformance::bases_outlive_the_calls_that_name_them_and_no_longer(&store);
        }

        #[test]
        fn conformance_events_are_stored_once_and_found_by_key() {
            let (_guard, store) = $open;
            crate::store::conformance::events_are_stored_once_and_found_by_key(&store);
        }

        #[test]
        fn conformance_events_page_newest_first_and_retain() {
            let (_guard, store) = $open;
            crate::store::conformance::events_page_newest_first_and_retain(&store);
        }

        #[test]
        fn conformance_logged_out_sessions_are_kept_until_they_expire() {
            let (_guard, store) = $open;
            crate::store::conformance::logged_out_sessions_are_kept_until_they_expire(&store);
        }

        #[test]
        fn conformance_each_rules_activity_adds_up_once_per_call_by_the_hour() {
            let (_guard, store) = $open;
            crate::store::conformance::each_rules_activity_adds_up_once_per_call_by_the_hour(
                &store,
            );
        }

        #[test]
        fn conformance_drafts_and_publishes_are_kept() {
            let (_guard, store) = $open;
            crate::store::conformance::drafts_and_publishes_are_kept(&store);
        }

        #[test]
        fn conformance_revisions_instances_candidates_and_shadow_answers() {
            let (_guard, store) = $open;
            crate::store::conformance::revisions_instances_candidates_and_shadow_answers(&store);
        }
    };
}
pub(crate) use backend_conformance;

/// `n` rows a millisecond apart from `start` (microseconds), ids in time order:
/// ruleset `even`/`odd` by index, status 401 for every 5th, a rule error for every
/// 7th, request body naming `Vessel <i>` (compressed).
pub fn rows(n: usize, start: i64) -> Vec<Row> {
    let mut compressor = Packer::default();
    let template = Row::encode(
        &sample_call(&Uuid::nil().to_string(), start),
        &mut compressor,
    );
    (0..n)
        .map(|i| {
            let at = start + i as i64 * 1000;
            let status = if i % 5 == 0 { 401 } else { 200 };
            let rule_errors = i32::from(i % 7 == 0);
            let body = format!("{{\"name\": \"Vessel {i}\", \"port\": \"x\"}}").repeat(40);
            let request_body = super::Blob::encode(body.as_bytes(), &mut compressor);
            Row {
                id: id_at(at),
                received_at: at,
                ruleset: if i % 2 == 0 { "even" } else { "odd" }.into(),
                status,
                rule_errors,
                problem: status != 200 || rule_errors > 0 || template.rule_timeouts > 0,
                stored_bytes: template.stored_bytes - template.request_body.bytes.len() as i64
                    + request_body.bytes.len() as i64,
                request_body,
                ..template.clone()
            }
        })
        .collect()
}

/// A UUIDv7 for the time `at` (microseconds).
fn id_at(at: i64) -> String {
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        (at / 1_000_000) as u64,
        ((at % 1_000_000) * 1000) as u32,
    ))
    .to_string()
}

fn everything(limit: usize) -> Query {
    Query {
        limit,
        ..Query::default()
    }
}

pub fn an_empty_store_answers_empty(store: &dyn Backend) {
    assert_eq!(store.stats().unwrap(), Stats::default());
    let page = store.list(&everything(10)).unwrap();
    assert!(page.calls.is_empty() && page.next.is_none() && page.searched_to.is_none());
    let text = store
        .list(&Query {
            text: Some("anything".into()),
            ..everything(10)
        })
        .unwrap();
    assert!(text.calls.is_empty() && text.next.is_none() && text.searched_to.is_none());
    assert!(store.get(&Uuid::now_v7().to_string()).unwrap().is_none());
    let removed = store
        .retain(
            &Retention {
                max_age: Some(Duration::from_secs(1)),
                max_bytes: Some(0),
            },
            now_micros(),
        )
        .unwrap();
    assert_eq!(removed, Default::default());
    store.write(&[]).unwrap();
}

pub fn written_rows_read_back_exactly(store: &dyn Backend) {
    let now = now_micros();
    let mut batch = rows(3, now);
    // Every kind of value: NULLs, empty and non-UTF-8 bodies, stored compressed or not.
    let mut compressor = Packer::default();
    let mut odd = sample_call(&batch[2].id, batch[2].received_at);
    odd.rules_version = None;
    odd.estimate_id = None;
    odd.error = Some("unknown rule set `x`; it's \"quoted\"".into());
    odd.request_body = vec![0xff, 0x00, 0xfe, b'\'', b'\\'].into();
    odd.response_body = Vec::new();
    odd.request_truncated = true;
    odd.status = 413;
    odd.request_size = u64::from(u32::MAX) + 7;
    odd.duration_us = i64::MAX;
    batch[2] = Row::encode(&odd, &mut compressor);

    store.write(&batch).unwrap();
    store.write(&batch[..1]).unwrap(); // the same call twice is kept once
    store.write(&[batch[1].clone(), batch[1].clone()]).unwrap(); // even in one batch
    for row in &batch {
        assert_eq!(store.get(&row.id).unwrap(), Some(row.as_stored()));
    }
    assert_eq!(
        store.get(&batch[2].id).unwrap().unwrap().decode().unwrap(),
        odd
    );
    let stats = store.stats().unwrap();
    assert_eq!(
        stats,
        Stats {
            calls: 3,
            stored_bytes: batch.iter().map(|r| r.stored_bytes as u64).sum(),
            oldest: Some(batch[0].received_at),
            newest: Some(batch[2].received_at),
        }
    );
    assert!(store.get("not-an-id").unwrap().is_none());
    assert!(store.get("x' OR 1=1 --").unwrap().is_none());
    assert!(store.get(&Uuid::now_v7().to_string()).unwrap().is_none());
    let page = store.list(&everything(10)).unwrap();
    let summaries: Vec<_> = batch.iter().rev().map(Row::summary).collect();
    assert_eq!(page.calls, summaries);
    assert_eq!(page.next, None);
}

pub fn pages_filter_and_continue(store: &dyn Backend) {
    let start = now_micros() - 60_000_000;
    let all = rows(50, start);
    store.write(&all).unwrap();
    let mut seen = Vec::new();
    let mut query = everything(20);
    let mut pages = 0;
    loop {
        let page = store.list(&query).unwrap();
        pages += 1;
        assert_eq!(page.searched_to, None);
        seen.extend(page.calls.iter().map(|c| c.id.clone()));
        match page.next {
            Some(next) => query.before = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = all.iter().map(|r| r.id.clone()).collect();
    expected.reverse();
    assert_eq!(seen, expected);
    // A page that ends exactly at the oldest call says so.
    let exact = store.list(&everything(50)).unwrap();
    assert_eq!((exact.calls.len(), exact.next), (50, None));
    let short = store.list(&everything(49)).unwrap();
    assert_eq!(short.next.as_deref(), Some(all[1].id.as_str()));

    let odd = store
        .list(&Query {
            ruleset: Some("odd".into()),
            status: Some(401),
            ..everything(100)
        })
        .unwrap();
    assert_eq!(odd.calls.len(), 5); // i = 5, 15, 25, 35, 45
    assert!(odd
        .calls
        .iter()
        .all(|c| c.ruleset == "odd" && c.status == 401));
    let problems = store
        .list(&Query {
            problems: true,
            ..everything(100)
        })
        .unwrap();
    let expected = (0..50).filter(|i| i % 5 == 0 || i % 7 == 0).count();
    assert_eq!(problems.calls.len(), expected);
    let text = store
        .list(&Query {
            text: Some("VESSEL 4".into()),
            ..everything(100)
        })
        .unwrap();
    assert_eq!(text.calls.len(), 11); // 4, 40..49
    assert_eq!((text.next, text.searched_to), (None, None));
    let few = store
        .list(&Query {
            text: Some("vessel 4".into()),
            ruleset: Some("even".into()),
            ..everything(3)
        })
        .unwrap();
    let ids: Vec<&str> = few.calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [&all[48].id, &all[46].id, &all[44].id]);
    assert_eq!(few.next.as_deref(), Some(all[44].id.as_str()));
    // Text that is not in the estimate, and text with SQL's wildcards, find nothing.
    for absent in ["vessel 99", "%", "_"] {
        let none = store
            .list(&Query {
                text: Some(absent.into()),
                ..everything(100)
            })
            .unwrap();
        assert!(none.calls.is_empty(), "{absent}");
    }
    let window = store
        .list(&Query {
            since: Some(start + 10_000),
            until: Some(start + 20_000),
            ..everything(100)
        })
        .unwrap();
    let ids: Vec<&str> = window.calls.iter().map(|c| c.id.as_str()).collect();
    let expected: Vec<&str> = all[10..20].iter().rev().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, expected);
    let err = store
        .list(&Query {
            before: Some("x' OR 1=1".into()),
            ..everything(10)
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::BadQuery(_)), "{err:?}");
    assert!(err.to_string().contains("is not a call id"));
}

pub fn a_text_search_reads_one_window_per_page(store: &dyn Backend) {
    // The only matches are older than the newest TEXT_SCAN_WINDOW calls.
    let start = now_micros() - 3_600_000_000;
    let mut all = rows(TEXT_SCAN_WINDOW + 5, start);
    for row in &mut all[..3] {
        row.request_body = super::Blob {
            encoding: super::Encoding::Identity,
            bytes: format!("{{\"note\": \"needle {}\"}}", row.id).into_bytes(),
        };
    }
    for chunk in all.chunks(2000) {
        store.write(chunk).unwrap();
    }
    let text = |before: Option<String>| Query {
        text: Some("Needle".into()),
        before,
        ..everything(10)
    };
    let first = store.list(&text(None)).unwrap();
    let floor = &all[5];
    assert!(first.calls.is_empty());
    assert_eq!(first.next.as_deref(), Some(floor.id.as_str()));
    assert_eq!(first.searched_to, Some(floor.received_at));
    let second = store.list(&text(first.next)).unwrap();
    let ids: Vec<&str> = second.calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [&all[2].id, &all[1].id, &all[0].id]);
    assert_eq!((second.next, second.searched_to), (None, None));
}

/// An estimate of `ports` port calls, of about 230 bytes each, with `price` at the
/// middle one and the dates from the third one shifted by `shift` days.
fn estimate(id: &str, ports: usize, shift: usize, price: &str) -> Vec<u8> {
    let calls: Vec<String> = (0..ports)
        .map(|i| {
            let day = if i >= ports / 3 { i + shift } else { i };
            let price = if i == ports / 2 { price } else { "577.09" };
            format!(
                r#"{{"seq":{i},"portName":"PORT {i}","arrivalDate":"2027-01-{:02}T10:00:00Z","portDays":0.5,"voyageEstimateBunkers":[{{"fuelType":"LSF","price":{price}}}],"terminal":"Terminal {i}"}}"#,
                1 + day % 28
            )
        })
        .collect();
    format!(
        r#"{{"estimateID":"{id}","estimateItineraries":[{}]}}"#,
        calls.join(",")
    )
    .into_bytes()
}

/// A call of `estimate` at `at` (microseconds) with this request body.
fn call_of(estimate_id: &str, at: i64, body: Vec<u8>) -> super::Call {
    let mut call = sample_call(&id_at(at), at);
    call.ruleset = "default".into();
    call.estimate_id = Some(estimate_id.into());
    call.request_size = body.len() as u64;
    call.request_body = body.into();
    call
}

pub fn request_bodies_stored_as_differences_read_back_exactly(store: &dyn Backend) {
    let now = now_micros();
    let mut packer = Packer::with_deltas(super::Compression::Lz4);
    let base = estimate("EST-1", 200, 0, "577.09");
    let mut truncated = call_of("EST-1", now + 5_000, base[..5000].to_vec());
    truncated.request_truncated = true;
    let mut refused = call_of("EST-1", now - 1_000, base.clone());
    refused.estimate_id = None;
    let refused_call = refused.clone();
    let calls = [
        // A call stored on its own does not stop the next from being a difference.
        refused,
        call_of("EST-1", now, base.clone()),
        call_of("EST-1", now + 1_000, base.clone()),
        call_of("EST-1", now + 2_000, estimate("EST-1", 200, 0, "581.25")),
        call_of("EST-1", now + 3_000, estimate("EST-1", 200, 1, "581.25")),
        call_of("EST-2", now + 4_000, estimate("EST-2", 200, 0, "577.09")),
        truncated,
        call_of("EST-1", now + 6_000, b"{\"estimateID\":\"EST-1\"}".to_vec()),
    ];
    let all: Vec<Row> = calls.iter().map(|c| Row::encode(c, &mut packer)).collect();
    assert_eq!(all[0].request_base, None, "no estimate id");
    assert_ne!(all[0].request_body.encoding, super::Encoding::Delta);
    store.write(&all[..1]).unwrap();
    let (calls, rows) = (&calls[1..], &all[1..]);
    // How each was stored: a base per estimate, differences after it, small bodies
    // and cut ones whole.
    let base_of = |i: usize| rows[i].request_base.clone();
    assert_eq!(base_of(0).as_deref(), Some(rows[0].id.as_str()));
    assert!(rows[0].base_body.is_some());
    for (i, row) in rows.iter().enumerate().take(4).skip(1) {
        assert_eq!(row.request_base, base_of(0), "call {i}");
        assert!(row.base_body.is_none(), "call {i}");
        assert_eq!(row.request_body.encoding, super::Encoding::Delta);
    }
    assert!(rows[1].request_body.bytes.len() <= 16, "an identical body");
    assert!(rows[2].request_body.bytes.len() <= 32, "one value changed");
    assert!(
        rows[3].request_body.bytes.len() < base.len() / 20,
        "shifted dates: {} bytes",
        rows[3].request_body.bytes.len()
    );
    assert_eq!(base_of(4).as_deref(), Some(rows[4].id.as_str()));
    assert_eq!(base_of(5), None);
    assert_eq!(base_of(6), None);
    assert!(rows[3].stored_bytes < rows[0].stored_bytes / 2);
    // The base and the calls naming it may come in one batch or in two.
    store.write(&rows[..2]).unwrap();
    store.write(&rows[2..]).unwrap();
    for (call, row) in calls
        .iter()
        .zip(&all[1..])
        .chain([(&refused_call, &all[0])])
    {
        let back = store.get(&row.id).unwrap().expect("written");
        assert_eq!(back.request_base, row.request_base);
        assert_eq!(back.decode().unwrap(), call.clone(), "{}", row.id);
    }
    // A text search sees the bodies, not their differences.
    let found = |text: &str| -> Vec<String> {
        let page = store
            .list(&Query {
                text: Some(text.into()),
                ..everything(50)
            })
            .unwrap();
        page.calls.into_iter().map(|c| c.id).collect()
    };
    let ids =
        |of: &[usize]| -> Vec<String> { of.iter().rev().map(|&i| rows[i].id.clone()).collect() };
    assert_eq!(found("581.25"), ids(&[2, 3]));
    let mut with_cut = ids(&[0, 1, 2, 3, 4, 5]);
    with_cut.push(all[0].id.clone());
    assert_eq!(found("\"port 3\""), with_cut, "also in the cut body");
    let mut everywhere = ids(&[0, 1, 2, 3, 4]);
    everywhere.push(all[0].id.clone());
    assert_eq!(found("port 199"), everywhere);
}

pub fn bases_outlive_the_calls_that_name_them_and_no_longer(store: &dyn Backend) {
    let hour = 3_600_000_000i64;
    let now = now_micros();
    let mut packer = Packer::with_deltas(super::Compression::Lz4);
    let first = call_of("EST-1", now - 3 * hour, estimate("EST-1", 100, 0, "577.09"));
    let edit = call_of(
        "EST-1",
        now - 3 * hour + 300_000_000,
        estimate("EST-1", 100, 0, "581.25"),
    );
    let recent = call_of("EST-9", now, b"{}".to_vec());
    let rows: Vec<Row> = [&first, &edit, &recent]
        .iter()
        .map(|c| Row::encode(c, &mut packer))
        .collect();
    assert_eq!(rows[1].request_base.as_deref(), Some(rows[0].id.as_str()));
    store.write(&rows).unwrap();
    let retain = |max_age: i64| {
        store
            .retain(
                &Retention {
                    max_age: Some(Duration::from_micros(max_age as u64)),
                    max_bytes: None,
                },
                now,
            )
            .unwrap()
    };
    // The call that stored the base goes; the base stays while the edit names it.
    assert_eq!(retain(3 * hour - 60_000_000).by_age, 1);
    assert!(store.get(&rows[0].id).unwrap().is_none());
    assert_eq!(
        store.get(&rows[1].id).unwrap().unwrap().decode().unwrap(),
        edit
    );
    // Once the edit goes too, so does the base: a row that still named it would no
    // longer read (and says why).
    assert_eq!(retain(hour).by_age, 1);
    let mut stale = Row::encode(
        &call_of("EST-1", now + 1, edit.request_body.to_vec()),
        &mut Packer::default(),
    );
    stale.request_body = rows[1].request_body.clone();
    stale.request_base = rows[1].request_base.clone();
    store.write(&[stale.clone()]).unwrap();
    match store.get(&stale.id).unwrap().unwrap().decode() {
        Err(StoreError::Corrupt(why)) => assert!(
            why.contains("missing") && why.contains(&rows[0].id),
            "{why}"
        ),
        other => panic!("a call naming a removed base decoded: {other:?}"),
    }
    assert_eq!(
        store.get(&rows[2].id).unwrap().unwrap().decode().unwrap(),
        recent
    );
}

pub fn retention_by_age_and_by_size(store: &dyn Backend) {
    let now = now_micros();
    let old = rows(10, now - 3_600_000_000 * 48);
    let new = rows(10, now - 1_000_000);
    store.write(&old).unwrap();
    store.write(&new).unwrap();
    let removed = store
        .retain(
            &Retention {
                max_age: Some(Duration::from_secs(24 * 3600)),
                max_bytes: None,
            },
            now,
        )
        .unwrap();
    assert_eq!((removed.by_age, removed.by_size), (10, 0));
    assert!(store.get(&old[9].id).unwrap().is_none());
    let each = new[0].stored_bytes as u64;
    let removed = store
        .retain(
            &Retention {
                max_age: None,
                max_bytes: Some(each * 4),
            },
            now,
        )
        .unwrap();
    assert_eq!((removed.by_age, removed.by_size), (0, 6));
    let left = store.list(&everything(100)).unwrap();
    let ids: Vec<&str> = left.calls.iter().map(|c| c.id.as_str()).collect();
    let newest: Vec<&str> = new[6..].iter().rev().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, newest);
    // Under the limit already: nothing more goes.
    let again = store
        .retain(
            &Retention {
                max_age: Some(Duration::from_secs(24 * 3600)),
                max_bytes: Some(each * 4),
            },
            now,
        )
        .unwrap();
    assert_eq!(again, Default::default());
    // More than one chunk by age.
    let many = rows(4500, now - 3_600_000_000 * 30);
    for chunk in many.chunks(1500) {
        store.write(chunk).unwrap();
    }
    let removed = store
        .retain(
            &Retention {
                max_age: Some(Duration::from_secs(24 * 3600)),
                max_bytes: None,
            },
            now,
        )
        .unwrap();
    assert_eq!(removed.by_age, 4500);
    assert_eq!(store.stats().unwrap().calls, 4);
}

/// A PortConnect-like container event, `n` apart from its siblings.
pub fn sample_event(n: i64, container: &str, imo: i64, port: &str, at_micros: i64) -> super::Event {
    let id = Uuid::now_v7().to_string();
    super::Event {
        id,
        received_at: now_micros(),
        source: "portconnect".into(),
        kind: "container".into(),
        event: if n % 2 == 0 { "GATEIN" } else { "GATEOUT" }.into(),
        known: true,
        at: Some(format!("event {n}")),
        occurred_at: Some(at_micros),
        containers: vec![container.into()],
        vessels: vec![crate::events::Vessel {
            imo: Some(imo),
            name: Some(format!("VESSEL {imo}")),
            role: "outbound".into(),
        }],
        ports: vec![port.into()],
        delivery: None,
        dedupe: format!("test:{n}:{container}"),
        payload: format!("{{\"n\": {n}, \"text\": \"h\u{e9}llo \\u0000\"}}"),
    }
}

pub fn events_are_stored_once_and_found_by_key(store: &dyn Backend) {
    use crate::events::{EventQuery, Ingested, Key};
    let first = vec![
        sample_event(0, "APHU6303593", 9628336, "NZAKL", 1_000),
        sample_event(1, "MEDU3085895", 9628336, "NZAKL", 2_000),
    ];
    assert_eq!(
        store.write_events(&first).unwrap(),
        Ingested {
            stored: 2,
            duplicates: 0
        }
    );
    // The same two again (new ids, same content) and one new, repeated in the batch.
    let mut again: Vec<_> = first
        .iter()
        .map(|e| super::Event {
            id: Uuid::now_v7().to_string(),
            ..e.clone()
        })
        .collect();
    let mut new = sample_event(2, "APHU6303593", 9410301, "NZTRG", 3_000);
    new.received_at = first[1].received_at + 1_000;
    again.push(new.clone());
    again.push(super::Event {
        id: Uuid::now_v7().to_string(),
        ..new.clone()
    });
    assert_eq!(
        store.write_events(&again).unwrap(),
        Ingested {
            stored: 1,
            duplicates: 3
        }
    );
    assert_eq!(store.event_stats().unwrap().calls, 3);
    assert_eq!(
        store.get_event(&first[0].id).unwrap().as_ref(),
        Some(&first[0]),
        "read back exactly"
    );
    assert_eq!(
        store.get_event(&again[0].id).unwrap(),
        None,
        "the duplicate was not kept"
    );
    assert_eq!(store.get_event("not-an-id").unwrap(), None);
    let find = |key: Option<Key>, f: &dyn Fn(&mut EventQuery)| -> Vec<String> {
        let mut q = EventQuery {
            key,
            limit: 50,
            ..Default::default()
        };
        f(&mut q);
        store
            .list_events(&q)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.dedupe)
            .collect()
    };
    let none = |_: &mut EventQuery| {};
    assert_eq!(
        find(Some(Key::Container("APHU6303593".into())), &none),
        ["test:2:APHU6303593", "test:0:APHU6303593"]
    );
    assert_eq!(
        find(Some(Key::Imo(9628336)), &none),
        ["test:1:MEDU3085895", "test:0:APHU6303593"]
    );
    assert_eq!(
        find(Some(Key::VesselName("VESSEL 9410301".into())), &none),
        ["test:2:APHU6303593"]
    );
    assert_eq!(
        find(Some(Key::Port("NZAKL".into())), &|q| q.since = Some(2_000)),
        ["test:1:MEDU3085895"]
    );
    assert_eq!(
        find(Some(Key::Port("NZAKL".into())), &|q| q.until = Some(2_000)),
        ["test:0:APHU6303593"]
    );
    assert_eq!(
        find(None, &|q| q.event = Some("GATEIN".into())),
        ["test:2:APHU6303593", "test:0:APHU6303593"]
    );
    assert_eq!(
        find(None, &|q| q.source = Some("octopi".into())),
        Vec::<String>::new()
    );
    // What a call received in between could see (a replay's facts).
    let by = first[1].received_at;
    assert_eq!(
        find(Some(Key::Container("APHU6303593".into())), &|q| q
            .received_by =
            Some(by)),
        ["test:0:APHU6303593"]
    );
    assert_eq!(
        find(Some(Key::Container("NOPE".into())), &none),
        Vec::<String>::new()
    );
    assert!(matches!(
        store.list_events(&EventQuery {
            before: Some("junk".into()),
            limit: 5,
            ..Default::default()
        }),
        Err(StoreError::BadQuery(_))
    ));
}

pub fn events_page_newest_first_and_retain(store: &dyn Backend) {
    use crate::events::{EventQuery, Key};
    // 25 events, two with the same time (the id breaks the tie).
    let events: Vec<_> = (0..25)
        .map(|n| sample_event(n, "TGHU1234567", 9628336, "NZAKL", 1_000 * (n / 2 * 2 + 1)))
        .collect();
    for chunk in events.chunks(10) {
        store.write_events(chunk).unwrap();
    }
    for key in [None, Some(Key::Container("TGHU1234567".into()))] {
        let mut seen = Vec::new();
        let mut q = EventQuery {
            key: key.clone(),
            limit: 7,
            ..Default::default()
        };
        loop {
            let page = store.list_events(&q).unwrap();
            assert!(page.events.len() <= 7);
            seen.extend(page.events.iter().map(|e| (e.sort_at(), e.id.clone())));
            match page.next {
                Some(next) => q.before = Some(next),
                None => break,
            }
        }
        let mut expected: Vec<_> = events.iter().map(|e| (e.sort_at(), e.id.clone())).collect();
        expected.sort();
        expected.reverse();
        assert_eq!(seen, expected, "{key:?}: every event once, newest first");
    }
    // By size: keep about half.
    let total = store.event_stats().unwrap().stored_bytes;
    let removed = store
        .retain_events(
            &Retention {
                max_age: None,
                max_bytes: Some(total / 2),
            },
            now_micros(),
        )
        .unwrap();
    let left = store.event_stats().unwrap();
    assert!(
        removed.by_size >= 12 && left.stored_bytes <= total / 2,
        "{removed:?} {left:?}"
    );
    assert_eq!(left.calls, 25 - removed.by_size);
    // The oldest received went first, keys with them.
    assert_eq!(store.get_event(&events[0].id).unwrap(), None);
    assert!(store.get_event(&events[24].id).unwrap().is_some());
    let by_key = store
        .list_events(&EventQuery {
            key: Some(Key::Imo(9628336)),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_key.events.len() as u64, left.calls);
    // By age: everything received before now + 1 s.
    let removed = store
        .retain_events(
            &Retention {
                max_age: Some(Duration::from_secs(1)),
                max_bytes: None,
            },
            now_micros() + 2_000_000,
        )
        .unwrap();
    assert_eq!(removed.by_age, left.calls);
    assert_eq!(store.event_stats().unwrap().calls, 0);
    assert!(store
        .list_events(&EventQuery {
            key: Some(Key::Port("NZAKL".into())),
            limit: 10,
            ..Default::default()
        })
        .unwrap()
        .events
        .is_empty());
}

/// The viewer's logouts: kept (once per nonce, the later expiry winning) until they
/// expire, and removed once expired when the next logout is written.
pub fn logged_out_sessions_are_kept_until_they_expire(store: &dyn Backend) {
    let now = now_micros();
    let hour = 3_600_000_000;
    let sorted = |mut v: Vec<(String, i64)>| {
        v.sort();
        v
    };
    assert_eq!(store.revoked_sessions(now).unwrap(), vec![]);

    store.revoke_session("nonce-a", now + hour).unwrap();
    store.revoke_session("nonce-b", now + 10_000_000).unwrap();
    // Again, with an earlier and then a later expiry: one entry, the later expiry.
    store.revoke_session("nonce-a", now + 60_000_000).unwrap();
    store.revoke_session("nonce-a", now + 2 * hour).unwrap();
    assert_eq!(
        sorted(store.revoked_sessions(now).unwrap()),
        vec![
            ("nonce-a".to_string(), now + 2 * hour),
            ("nonce-b".to_string(), now + 10_000_000)
        ]
    );
    // Twenty seconds on, b's session would have ended by itself.
    assert_eq!(
        store.revoked_sessions(now + 20_000_000).unwrap(),
        vec![("nonce-a".to_string(), now + 2 * hour)]
    );

    // One already expired is not listed, and the next logout removes it from the table.
    store.revoke_session("nonce-old", now - 1).unwrap();
    assert!(!store
        .revoked_sessions(now)
        .unwrap()
        .iter()
        .any(|(n, _)| n == "nonce-old"));
    assert!(
        store
            .revoked_sessions(0)
            .unwrap()
            .iter()
            .any(|(n, _)| n == "nonce-old"),
        "kept until the next logout"
    );
    store.revoke_session("nonce-c", now + hour).unwrap();
    assert_eq!(
        sorted(store.revoked_sessions(0).unwrap()),
        vec![
            ("nonce-a".to_string(), now + 2 * hour),
            ("nonce-b".to_string(), now + 10_000_000),
            ("nonce-c".to_string(), now + hour)
        ],
        "expired revocations are purged"
    );
}

pub fn drafts_and_publishes_are_kept(store: &dyn Backend) {
    use super::{Draft, Published};
    use serde_json::json;
    assert_eq!(store.drafts(None).unwrap(), vec![]);
    let draft = |id: &str, ruleset: &str, at: i64| Draft {
        id: id.into(),
        ruleset: ruleset.into(),
        owner: "apatel".into(),
        base_version: "v1".into(),
        files: json!({"tce.rhai": "warning(\"é ✓\");\n", "old.rhai": null}),
        created_at: at,
        updated_at: at,
    };
    let a = draft("d-a", "desk", 1_000);
    let b = draft("d-b", "desk", 2_000);
    let c = draft("d-c", "other", 3_000);
    for d in [&a, &b, &c] {
        store.save_draft(d).unwrap();
    }
    assert_eq!(store.draft("d-a").unwrap(), Some(a.clone()));
    assert_eq!(store.draft("d-none").unwrap(), None);
    assert_eq!(
        store.drafts(Some("desk")).unwrap(),
        vec![b.clone(), a.clone()]
    );
    assert_eq!(store.drafts(None).unwrap().len(), 3);
    // Saved again: new files and time, same owner and creation.
    let mut changed = a.clone();
    changed.files = json!({"tce.rhai": "info(\"x\");"});
    changed.updated_at = 5_000;
    changed.owner = "someone-else".into();
    store.save_draft(&changed).unwrap();
    let kept = store.draft("d-a").unwrap().unwrap();
    assert_eq!(
        (
            kept.files,
            kept.updated_at,
            kept.owner.as_str(),
            kept.created_at
        ),
        (changed.files.clone(), 5_000, "apatel", 1_000)
    );
    assert_eq!(
        store.drafts(Some("desk")).unwrap()[0].id,
        "d-a",
        "newest change first"
    );
    assert!(store.delete_draft("d-a").unwrap());
    assert!(!store.delete_draft("d-a").unwrap());
    assert_eq!(store.drafts(Some("desk")).unwrap(), vec![b]);

    let published = |id: &str, at: i64, version: &str| Published {
        id: id.into(),
        ruleset: "desk".into(),
        version: version.into(),
        previous_version: "v0".into(),
        author: "jlee".into(),
        at,
        message: "raise the floor".into(),
        action: "publish".into(),
        files: json!({"tce.rhai": "warning(\"x\");", "data/desk.json": "{}"}),
        seq: 0,
    };
    let first = published("p-1", 10_000, "v1");
    let second = published("p-2", 20_000, "v2");
    store.record_published(&first).unwrap();
    store.record_published(&second).unwrap();
    let kept = store.published("desk").unwrap();
    assert!(kept[0].seq > kept[1].seq && kept[1].seq > 0, "{kept:?}");
    let first = Published {
        seq: kept[1].seq,
        ..first
    };
    let second = Published {
        seq: kept[0].seq,
        ..second
    };
    assert_eq!(kept, vec![second.clone(), first.clone()]);
    assert_eq!(store.published("other").unwrap(), vec![]);
    assert_eq!(store.published_one("p-1").unwrap(), Some(first));
    assert_eq!(store.published_one("p-9").unwrap(), None);
}

pub fn each_rules_activity_adds_up_once_per_call_by_the_hour(store: &dyn Backend) {
    use super::activity::{self, HOUR_US};
    use super::RuleTrace;
    let now = now_micros();
    let this_hour = activity::hour_of(now);
    let trace = |rule: &str, us: i64, outcome: &str, alerts: usize| RuleTrace {
        rule: rule.into(),
        duration_us: us,
        outcome: outcome.into(),
        alerts: vec![serde_json::from_value(serde_json::json!({"message": "x"})).unwrap(); alerts],
        error: None,
        ..sample_call("x", 0).rules[0].clone()
    };
    let call = |at: i64, ruleset: &str, rules: Vec<RuleTrace>| {
        let mut call = sample_call(&id_at(at), at);
        call.ruleset = ruleset.into();
        call.rules = rules;
        Row::encode(&call, &mut Packer::default())
    };
    let two_days_ago = this_hour - 48 * HOUR_US + 10;
    let batch = vec![
        call(
            this_hour + 1,
            "desk",
            vec![
                trace("tce", 100, "ok", 2),
                trace("ports", 7_000, "error", 0),
            ],
        ),
        call(this_hour + 2, "desk", vec![trace("tce", 300, "timeout", 0)]),
        call(
            this_hour - HOUR_US + 5,
            "desk",
            vec![trace("tce", 50, "ok", 1)],
        ),
        call(two_days_ago, "desk", vec![trace("tce", 20, "ok", 0)]),
        call(this_hour + 3, "other", vec![trace("tce", 900, "ok", 5)]),
    ];
    store.write(&batch).unwrap();
    // A call written again (a retried batch) counts once; so does one twice in a batch.
    store.write(&batch[..1]).unwrap();
    store.write(&[batch[1].clone(), batch[1].clone()]).unwrap();
    // A later batch adds to the hour's row.
    let later = call(this_hour + 4, "desk", vec![trace("tce", 200, "ok", 1)]);
    store.write(&[later]).unwrap();

    let mut rows = store.activity("desk", now - 7 * 24 * HOUR_US).unwrap();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let seen: Vec<_> = rows
        .iter()
        .map(|(k, s)| {
            (
                (k.hour - this_hour) / HOUR_US,
                k.rule.as_str(),
                s.calls,
                s.alerts,
                s.errors,
                s.timeouts,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (-48, "tce", 1, 0, 0, 0),
            (-1, "tce", 1, 1, 0, 0),
            (0, "ports", 1, 0, 1, 0),
            (0, "tce", 3, 3, 0, 1),
        ]
    );
    let tce = rows[3].1.read().unwrap();
    // Within the histograms' 1 %.
    let p50 = tce.percentile_us(0.5).unwrap();
    let p99 = tce.percentile_us(0.99).unwrap();
    assert!(
        (198..=202).contains(&p50) && (297..=303).contains(&p99),
        "{p50} {p99}"
    );
    // Reading from an hour on leaves out the hours before it.
    assert_eq!(store.activity("desk", this_hour).unwrap().len(), 2);
    assert_eq!(store.activity("nothing", 0).unwrap(), vec![]);
    // Retention drops hours older than the week, whatever it keeps of the calls.
    store
        .retain(
            &Retention {
                max_age: None,
                max_bytes: None,
            },
            now + 6 * 24 * HOUR_US,
        )
        .unwrap();
    let kept: Vec<i64> = store
        .activity("desk", 0)
        .unwrap()
        .iter()
        .map(|(k, _)| (k.hour - this_hour) / HOUR_US)
        .collect();
    assert!(!kept.contains(&-48) && kept.contains(&-1), "{kept:?}");
    assert!(store.get(&batch[3].id).unwrap().is_some());
}

pub fn revisions_instances_candidates_and_shadow_answers(store: &dyn Backend) {
    use super::{Candidate, Instance, Published, ShadowCall, ShadowKind};
    use serde_json::json;
    assert!(store.revision_heads().unwrap().is_empty());
    assert_eq!(store.revision_mark().unwrap(), 0);

    // Heads: the newest by the order stored, not by the clock of whoever stored it.
    let revision = |id: &str, ruleset: &str, at: i64, version: &str| Published {
        id: id.into(),
        ruleset: ruleset.into(),
        version: version.into(),
        previous_version: String::new(),
        author: "ops".into(),
        at,
        message: "m".into(),
        action: "cli".into(),
        files: json!({"a.rhai": version}),
        seq: 0,
    };
    store
        .record_published(&revision("r1", "desk", 5_000, "v1"))
        .unwrap();
    store
        .record_published(&revision("r2", "ports", 1_000, "p1"))
        .unwrap();
    let mark = store.revision_mark().unwrap();
    store
        .record_published(&revision("r3", "desk", 1_000, "v2"))
        .unwrap();
    assert!(store.revision_mark().unwrap() > mark);
    let heads = store.revision_heads().unwrap();
    let heads: Vec<(&str, &str)> = heads
        .iter()
        .map(|h| (h.ruleset.as_str(), h.version.as_str()))
        .collect();
    assert_eq!(heads, vec![("desk", "v2"), ("ports", "p1")]);

    // Instances: one row each, the latest report kept.
    let instance = |name: &str, seen_at: i64, version: &str| Instance {
        name: name.into(),
        started_at: 1,
        seen_at,
        serving: json!({"desk": version}),
        problems: if version == "v1" {
            vec!["desk: serving v1, the current revision is v2".into()]
        } else {
            vec![]
        },
    };
    store.report_instance(&instance("a:1", 10, "v1")).unwrap();
    store.report_instance(&instance("b:1", 20, "v2")).unwrap();
    store.report_instance(&instance("a:1", 30, "v2")).unwrap();
    assert_eq!(
        store.instances().unwrap(),
        vec![instance("a:1", 30, "v2"), instance("b:1", 20, "v2")]
    );

    // Candidates: one running per rule set; a new one replaces it; starts and ends move the mark.
    let candidate = |id: &str, at: i64| Candidate {
        id: id.into(),
        ruleset: "desk".into(),
        version: format!("c-{id}"),
        author: "jlee".into(),
        message: "try a lower floor".into(),
        files: json!({"a.rhai": id}),
        started_at: at,
        ended_at: None,
        outcome: None,
    };
    let mark = store.revision_mark().unwrap();
    store.start_candidate(&candidate("k1", 100)).unwrap();
    assert!(store.revision_mark().unwrap() > mark);
    store.start_candidate(&candidate("k2", 200)).unwrap();
    let running = store.candidates(None, true).unwrap();
    assert_eq!(running, vec![candidate("k2", 200)]);
    let all = store.candidates(Some("desk"), false).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].outcome.as_deref(), Some("replaced"));
    assert_eq!(all[1].ended_at, Some(200));
    assert!(store.candidates(Some("ports"), false).unwrap().is_empty());
    let mark = store.revision_mark().unwrap();
    assert!(store.end_candidate("k2", "discarded", 300).unwrap());
    assert!(
        !store.end_candidate("k2", "promoted", 400).unwrap(),
        "ended once"
    );
    assert!(store.revision_mark().unwrap() > mark);
    assert!(store.candidates(None, true).unwrap().is_empty());
    let k2 = store.candidate("k2").unwrap().unwrap();
    assert_eq!(
        (k2.ended_at, k2.outcome.as_deref()),
        (Some(300), Some("discarded"))
    );
    assert_eq!(store.candidate("k9").unwrap(), None);

    // Shadow answers: kept once per (candidate, call), summed, listed by kind.
    let now = now_micros();
    let shadow = |n: i64, added: u32, errors: u32| ShadowCall {
        call_id: id_at(now + n * 1_000),
        candidate: "k1".into(),
        ruleset: "desk".into(),
        at: now + n * 1_000,
        live_version: "v2".into(),
        candidate_version: "c-k1".into(),
        live_us: 1_000 * n,
        candidate_us: 500 * n,
        changed: added > 0,
        added,
        removed: 0,
        altered: 0,
        guid_changes: 0,
        errors,
        timeouts: 0,
        answer: "[]".into(),
    };
    let calls = vec![shadow(1, 0, 0), shadow(2, 2, 0), shadow(3, 1, 1)];
    store.write_shadow(&calls).unwrap();
    store.write_shadow(&calls[..1]).unwrap();
    let summary = store.shadow_summary("k1").unwrap();
    assert_eq!(
        (
            summary.calls,
            summary.changed,
            summary.added,
            summary.errors
        ),
        (3, 2, 3, 1)
    );
    assert_eq!(
        (
            summary.live_us_mean,
            summary.candidate_us_mean,
            summary.candidate_us_max
        ),
        (2_000, 1_000, 1_500)
    );
    assert_eq!(store.shadow_summary("k2").unwrap().calls, 0);
    assert_eq!(
        store.shadow_calls("k1", ShadowKind::All, 10).unwrap(),
        vec![calls[2].clone(), calls[1].clone(), calls[0].clone()]
    );
    let ids = |kind| -> Vec<String> {
        store
            .shadow_calls("k1", kind, 10)
            .unwrap()
            .into_iter()
            .map(|c| c.call_id)
            .collect()
    };
    assert_eq!(
        ids(ShadowKind::Added),
        vec![calls[2].call_id.clone(), calls[1].call_id.clone()]
    );
    assert_eq!(ids(ShadowKind::Errors), vec![calls[2].call_id.clone()]);
    assert!(ids(ShadowKind::Timeouts).is_empty());
    assert_eq!(
        store.shadow_calls("k1", ShadowKind::All, 1).unwrap().len(),
        1
    );

    // Retention: shadow answers go with the calls they answered again.
    let kept = sample_call(&calls[1].call_id, now + 2_000);
    store
        .write(&[Row::encode(&kept, &mut Packer::default())])
        .unwrap();
    store
        .retain(
            &Retention {
                max_age: None,
                max_bytes: None,
            },
            now + 10_000,
        )
        .unwrap();
    assert_eq!(
        ids(ShadowKind::All),
        vec![calls[2].call_id.clone(), calls[1].call_id.clone()]
    );
}
