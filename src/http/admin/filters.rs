//! The lists' filters as they arrive in a query string, turned into store queries: the
//! calls' (`?ruleset=&status=&problems=on&q=&since=24h&until=&before=<cursor>&limit=`)
//! into a [`Query`], the port events' (`?source=&event=&container=&vessel=&port=&since=
//! &until=&before=<cursor>&limit=`) into an [`EventSearch`].
//!
//! Times are read by [`crate::clock::parse_when`]: RFC 3339, a `datetime-local` value or
//! a date (both read as UTC), or an age: `90m`, `24h`, `7d`, `2w` ago.

use serde::Deserialize;

use crate::events::{self, EventQuery, Key};
use crate::http::QueryForm;
use crate::store::Query;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// The form's fields, as sent. Empty fields count as absent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filters {
    pub ruleset: Option<String>,
    pub status: Option<String>,
    pub problems: Option<String>,
    pub q: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

impl QueryForm for Filters {
    const FORM: &'static str =
        "?ruleset=&status=&problems=on&q=&since=24h&until=&before=<next>&limit=";
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Filters {
    pub fn ruleset(&self) -> &str {
        given(&self.ruleset).unwrap_or("")
    }

    pub fn status(&self) -> &str {
        given(&self.status).unwrap_or("")
    }

    pub fn problems(&self) -> bool {
        matches!(given(&self.problems), Some("on" | "true" | "1" | "yes"))
    }

    pub fn q(&self) -> &str {
        given(&self.q).unwrap_or("")
    }

    pub fn since(&self) -> &str {
        given(&self.since).unwrap_or("")
    }

    pub fn until(&self) -> &str {
        given(&self.until).unwrap_or("")
    }

    /// Is any filter (other than the cursor) set?
    pub fn any(&self) -> bool {
        !self.ruleset().is_empty()
            || !self.status().is_empty()
            || self.problems()
            || !self.q().is_empty()
            || !self.since().is_empty()
            || !self.until().is_empty()
    }

    /// The store query, as of `now` (microseconds since the epoch); an error says which
    /// field is wrong and what it takes.
    pub fn query(&self, now: i64) -> Result<Query, String> {
        let status = match given(&self.status) {
            None => None,
            Some(text) => Some(text.parse::<u16>().ok().filter(|s| (100..600).contains(s)).ok_or_else(|| {
                format!("status `{text}` is not an HTTP status; use a number such as 200, 400 or 401")
            })?),
        };
        let limit = limit(&self.limit)?;
        let before = match given(&self.before) {
            None => None,
            Some(id) if crate::ids::valid_id(id) => Some(id.to_string()),
            Some(id) => {
                return Err(format!(
                    "before `{id}` is not a call id; use the next-page link of the list"
                ))
            }
        };
        let (since, until) = time_range(&self.since, &self.until, now)?;
        Ok(Query {
            ruleset: given(&self.ruleset).map(str::to_string),
            status,
            problems: self.problems(),
            text: given(&self.q).map(str::to_string),
            since,
            until,
            before,
            limit,
        })
    }

    /// The query string of these filters, with `before` set to `cursor`.
    pub fn to_query_string(&self, cursor: Option<&str>) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("ruleset", self.ruleset()),
            ("status", self.status()),
            ("q", self.q()),
            ("since", self.since()),
            ("until", self.until()),
        ] {
            if !value.is_empty() {
                out.append_pair(name, value);
            }
        }
        if self.problems() {
            out.append_pair("problems", "on");
        }
        if let Some(limit) = given(&self.limit) {
            out.append_pair("limit", limit);
        }
        if let Some(cursor) = cursor {
            out.append_pair("before", cursor);
        }
        out.finish()
    }
}

/// The events list's fields, as sent. Empty fields count as absent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventFilters {
    pub source: Option<String>,
    pub event: Option<String>,
    pub container: Option<String>,
    pub vessel: Option<String>,
    pub port: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

impl QueryForm for EventFilters {
    const FORM: &'static str =
        "?source=&event=&container=&vessel=&port=&since=24h&until=&before=<next>&limit=";
}

/// What to list: the store's query, and the keys it cannot take as well.
///
/// The store finds events by one key at a time. When more than one of container, vessel
/// and port is given, the most specific becomes the query's key (container, then vessel,
/// then port) and the others are in `also`: the viewer keeps only the events that have
/// them too (see `admin::list_events`, which reads a bounded number of events per page
/// for that).
#[derive(Debug, Clone, PartialEq)]
pub struct EventSearch {
    pub query: EventQuery,
    pub also: Vec<Key>,
}

impl EventFilters {
    pub fn source(&self) -> &str {
        given(&self.source).unwrap_or("")
    }

    pub fn event(&self) -> &str {
        given(&self.event).unwrap_or("")
    }

    pub fn container(&self) -> &str {
        given(&self.container).unwrap_or("")
    }

    pub fn vessel(&self) -> &str {
        given(&self.vessel).unwrap_or("")
    }

    pub fn port(&self) -> &str {
        given(&self.port).unwrap_or("")
    }

    pub fn since(&self) -> &str {
        given(&self.since).unwrap_or("")
    }

    pub fn until(&self) -> &str {
        given(&self.until).unwrap_or("")
    }

    /// Is any filter (other than the cursor) set?
    pub fn any(&self) -> bool {
        [
            self.source(),
            self.event(),
            self.container(),
            self.vessel(),
            self.port(),
            self.since(),
            self.until(),
        ]
        .iter()
        .any(|v| !v.is_empty())
    }

    /// The search, as of `now` (microseconds since the epoch); an error says which field
    /// is wrong and what it takes.
    pub fn search(&self, now: i64) -> Result<EventSearch, String> {
        let source = match given(&self.source) {
            None => None,
            Some(text) => {
                let lower = text.to_ascii_lowercase();
                if !events::SOURCES.contains(&lower.as_str()) {
                    return Err(format!(
                        "source `{text}` is not one lookout receives; use {}",
                        events::SOURCES.join(" or ")
                    ));
                }
                Some(lower)
            }
        };
        let event = match given(&self.event) {
            None => None,
            Some(text) => {
                let canonical = events::canonical_event(text);
                if canonical.is_empty() {
                    return Err(format!(
                        "event `{text}` is not an event name; write it as Octopi or PortConnect does, e.g. Cargo Gated In, cargo_gated_in or GATEIN"
                    ));
                }
                Some(canonical)
            }
        };
        let mut keys = Vec::new();
        if let Some(text) = given(&self.container) {
            keys.push(Key::Container(events::normalize_container(text).ok_or_else(
                || format!("container `{text}` has no letters or digits; write a container number such as APHU6303593"),
            )?));
        }
        if let Some(text) = given(&self.vessel) {
            keys.push(vessel_key(text)?);
        }
        if let Some(text) = given(&self.port) {
            keys.push(Key::Port(events::normalize_name(text).ok_or_else(
                || format!("port `{text}` is empty; write a port code such as NZAKL"),
            )?));
        }
        let limit = limit(&self.limit)?;
        let before = match given(&self.before) {
            None => None,
            Some(cursor) if events::parse_cursor(cursor).is_some() => Some(cursor.to_string()),
            Some(cursor) => {
                return Err(format!(
                    "before `{cursor}` is not an events cursor; use the next-page link of the list"
                ))
            }
        };
        let (since, until) = time_range(&self.since, &self.until, now)?;
        let mut keys = keys.into_iter();
        let key = keys.next();
        Ok(EventSearch {
            query: EventQuery {
                source,
                event,
                key,
                since,
                until,
                before,
                limit,
                // Every event received so far: the viewer shows the log as it is now.
                ..EventQuery::default()
            },
            also: keys.collect(),
        })
    }

    /// The query string of these filters, with `before` set to `cursor`.
    pub fn to_query_string(&self, cursor: Option<&str>) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("source", self.source()),
            ("event", self.event()),
            ("container", self.container()),
            ("vessel", self.vessel()),
            ("port", self.port()),
            ("since", self.since()),
            ("until", self.until()),
        ] {
            if !value.is_empty() {
                out.append_pair(name, value);
            }
        }
        if let Some(limit) = given(&self.limit) {
            out.append_pair("limit", limit);
        }
        if let Some(cursor) = cursor {
            out.append_pair("before", cursor);
        }
        out.finish()
    }
}

/// A vessel as a filter: an IMO number (seven digits, `IMO ` in front allowed) or a name.
fn vessel_key(text: &str) -> Result<Key, String> {
    let digits = text
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("imo"))
        .map(|_| text[3..].trim())
        .unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits
            .parse::<i64>()
            .ok()
            .filter(|n| (1_000_000..=9_999_999).contains(n))
            .map(Key::Imo)
            .ok_or_else(|| {
                format!("vessel `{text}` is not an IMO number (seven digits); write the IMO number or the vessel's name")
            });
    }
    events::normalize_name(text)
        .map(Key::VesselName)
        .ok_or_else(|| format!("vessel `{text}` is empty; write an IMO number or a name"))
}

fn limit(value: &Option<String>) -> Result<usize, String> {
    match given(value) {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| format!("limit `{text}` must be a number from 1 to {MAX_LIMIT}")),
    }
}

/// `since` and `until` as microseconds, `since` before `until`.
fn time_range(
    since: &Option<String>,
    until: &Option<String>,
    now: i64,
) -> Result<(Option<i64>, Option<i64>), String> {
    let since = given(since)
        .map(|t| crate::clock::parse_when(t, now).map_err(|e| format!("since: {e}")))
        .transpose()?;
    let until = given(until)
        .map(|t| crate::clock::parse_when(t, now).map_err(|e| format!("until: {e}")))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err("since must be earlier than until".into());
        }
    }
    Ok((since, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000_000;

    #[test]
    fn filters_become_a_query_and_a_query_string() {
        let filters = Filters {
            ruleset: Some("default".into()),
            status: Some("".into()),
            problems: Some("on".into()),
            q: Some("ocean star".into()),
            since: Some("24h".into()),
            ..Filters::default()
        };
        let query = filters.query(NOW).unwrap();
        assert_eq!(query.ruleset.as_deref(), Some("default"));
        assert_eq!(query.status, None);
        assert!(query.problems);
        assert_eq!(query.text.as_deref(), Some("ocean star"));
        assert_eq!(query.since, Some(NOW - 86_400_000_000));
        assert_eq!(query.limit, DEFAULT_LIMIT);
        let next = "0190a5b2-0000-7000-8000-000000000000";
        assert_eq!(
            filters.to_query_string(Some(next)),
            format!("ruleset=default&q=ocean+star&since=24h&problems=on&before={next}")
        );
    }

    #[test]
    fn wrong_filters_say_which_and_how() {
        let cases: &[(Filters, &str)] = &[
            (
                Filters {
                    status: Some("ok".into()),
                    ..Filters::default()
                },
                "status `ok` is not an HTTP status",
            ),
            (
                Filters {
                    before: Some("1; drop".into()),
                    ..Filters::default()
                },
                "is not a call id",
            ),
            (
                Filters {
                    limit: Some("100000".into()),
                    ..Filters::default()
                },
                "from 1 to 500",
            ),
            (
                Filters {
                    since: Some("1h".into()),
                    until: Some("2h".into()),
                    ..Filters::default()
                },
                "since must be earlier",
            ),
            (
                Filters {
                    until: Some("soon".into()),
                    ..Filters::default()
                },
                "until: `soon` is not a time",
            ),
        ];
        for (filters, message) in cases {
            let err = filters.query(NOW).unwrap_err();
            assert!(err.contains(message), "{err}");
        }
    }

    #[test]
    fn event_filters_become_a_search_with_one_key_and_the_rest_checked_after() {
        let filters = EventFilters {
            source: Some("PortConnect".into()),
            event: Some("Cargo Gated In".into()),
            container: Some(" aphu 630359-3 ".into()),
            vessel: Some("IMO 9628336".into()),
            port: Some("nzakl".into()),
            since: Some("24h".into()),
            ..EventFilters::default()
        };
        let search = filters.search(NOW).unwrap();
        assert_eq!(search.query.source.as_deref(), Some("portconnect"));
        assert_eq!(search.query.event.as_deref(), Some("cargo_gated_in"));
        assert_eq!(
            search.query.key,
            Some(Key::Container("APHU6303593".into())),
            "the container is the most specific key"
        );
        assert_eq!(
            search.also,
            vec![Key::Imo(9628336), Key::Port("NZAKL".into())]
        );
        assert_eq!(search.query.since, Some(NOW - 86_400_000_000));
        assert_eq!(search.query.limit, DEFAULT_LIMIT);

        let cases: &[(&str, Key)] = &[
            ("9628336", Key::Imo(9628336)),
            ("imo9628336", Key::Imo(9628336)),
            ("  kota   loceng ", Key::VesselName("KOTA LOCENG".into())),
            ("Imogen", Key::VesselName("IMOGEN".into())),
        ];
        for (vessel, key) in cases {
            let search = EventFilters {
                vessel: Some(vessel.to_string()),
                ..EventFilters::default()
            }
            .search(NOW)
            .unwrap();
            assert_eq!(search.query.key.as_ref(), Some(key), "{vessel}");
            assert!(search.also.is_empty());
        }
        assert_eq!(
            EventFilters {
                event: Some("gatein".into()),
                ..EventFilters::default()
            }
            .search(NOW)
            .unwrap()
            .query
            .event
            .as_deref(),
            Some("GATEIN")
        );

        let next = format!(
            "1560904862000000_{}",
            "0190a5b2-0000-7000-8000-000000000000"
        );
        assert_eq!(
            filters.to_query_string(Some(&next)),
            format!("source=PortConnect&event=Cargo+Gated+In&container=aphu+630359-3&vessel=IMO+9628336&port=nzakl&since=24h&before={next}")
        );
    }

    #[test]
    fn wrong_event_filters_say_which_and_how() {
        let cases: &[(EventFilters, &str)] = &[
            (
                EventFilters {
                    source: Some("imos".into()),
                    ..EventFilters::default()
                },
                "source `imos` is not one lookout receives; use octopi or portconnect",
            ),
            (
                EventFilters {
                    event: Some("--".into()),
                    ..EventFilters::default()
                },
                "event `--` is not an event name",
            ),
            (
                EventFilters {
                    container: Some("- -".into()),
                    ..EventFilters::default()
                },
                "container `- -` has no letters or digits",
            ),
            (
                EventFilters {
                    vessel: Some("12345".into()),
                    ..EventFilters::default()
                },
                "vessel `12345` is not an IMO number (seven digits)",
            ),
            (
                EventFilters {
                    before: Some("0190a5b2-0000-7000-8000-000000000000".into()),
                    ..EventFilters::default()
                },
                "is not an events cursor",
            ),
            (
                EventFilters {
                    limit: Some("0".into()),
                    ..EventFilters::default()
                },
                "from 1 to 500",
            ),
            (
                EventFilters {
                    since: Some("2h".into()),
                    until: Some("3h".into()),
                    ..EventFilters::default()
                },
                "since must be earlier",
            ),
        ];
        for (filters, message) in cases {
            let err = filters.search(NOW).unwrap_err();
            assert!(err.contains(message), "{err}");
        }
    }
}
