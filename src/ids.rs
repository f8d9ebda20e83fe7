//! Call and event ids: UUIDv7, so that ids sort by the time they were made, time ranges
//! become id ranges (the same index as paging), and a cursor is an id.
//!
//! A leaf: it imports nothing of lookout.

use uuid::Uuid;

/// A new id, for a call, an event or a session.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// The smallest UUIDv7 at or after `micros`: call ids sort by time, so time ranges
/// become id ranges and use the same index as paging.
pub fn id_floor(micros: i64) -> String {
    let millis = (micros.max(0) / 1000) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes).to_string()
}

/// Whether `id` is a UUID: checked before an id from outside (a path, a cursor, an
/// argument) reaches SQL.
pub fn valid_id(id: &str) -> bool {
    Uuid::parse_str(id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time() {
        let t = crate::clock::now_micros();
        let before = id_floor(t - 1000);
        let id = new_id().to_string();
        let after = id_floor(t + 10_000_000);
        assert!(before < id && id < after, "{before} {id} {after}");
        assert_eq!(id_floor(0), "00000000-0000-0000-0000-000000000000");
        assert!(valid_id(&id) && !valid_id("0192f0c4") && !valid_id("' or 1=1 --"));
    }
}
