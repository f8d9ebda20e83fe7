//! The Rhai engine rules run in, and the per-run context on the worker thread.
//!
//! One `Engine` is built per rule set (its `lib/` modules are its own) and shared
//! by every call. The sandbox: no `eval`, no file, network or process access (Rhai has
//! none built in, and `import` only sees the rule set's `lib/` modules, loaded into
//! memory at compile time); bounded operations, call depth, expression depth, string,
//! array and map sizes; a wall-clock deadline and a memory ceiling checked every 1,024
//! operations and at the start of every host function.
//!
//! While a rule runs, its worker thread holds its deadline and memory ceiling in a
//! thread-local cell, and a [`Run`] with the alerts the builders raised and the captured
//! `print`/`debug` output. Builders and helpers reach both through thread-locals, which is
//! why a rule runs start to end on one thread.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, OptimizationLevel, Position};
use sonic_rs::{JsonContainerTrait, JsonValueTrait, ValueRef};

use crate::alerts::{self, Alert, AlertType, DisplayField};
use crate::rules::helpers;
use crate::rules::json::{self, runtime_error, Json};

/// Limits every rule runs under.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Net bytes a rule may allocate on its thread.
    pub max_memory: usize,
    /// `print`/`debug` output kept per rule.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            max_call_levels: 48,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 100_000,
            max_memory: 256 << 20,
            max_output: 64 << 10,
        }
    }
}

/// Why the progress callback stopped a rule.
pub const STOP_DEADLINE: &str = "deadline";
pub const STOP_MEMORY: &str = "memory";
pub const STOP_OPERATIONS: &str = "operations";

/// What one rule run collects on its thread.
pub struct Run {
    /// This run's number: alert handles carry it, so a handle from another run (a lib
    /// module's exported variable, say) is refused instead of indexing this run's alerts.
    id: u64,
    pub alerts: Vec<Alert>,
    pub output: String,
    pub output_cut: bool,
    max_output: usize,
}

thread_local! {
    static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
    static DEADLINE: Cell<Option<RunLimits>> = const { Cell::new(None) };
    /// Operations of the current run, counted here rather than read from Rhai: Rhai
    /// restarts its count inside closures that built-ins such as `map` and `filter` call,
    /// so its count (and its own operations limit) miss that work.
    static OPERATIONS: Cell<u64> = const { Cell::new(0) };
}

#[derive(Clone, Copy)]
struct RunLimits {
    deadline: Instant,
    memory_start: isize,
    max_memory: usize,
    max_operations: u64,
}

impl Run {
    /// Starts a run on this thread; [`Run::finish`] ends it.
    pub fn begin(deadline: Instant, limits: &Limits) {
        Run::limit(deadline, limits);
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        RUN.with_borrow_mut(|run| {
            *run = Some(Run {
                id,
                alerts: Vec::new(),
                output: String::new(),
                output_cut: false,
                max_output: limits.max_output,
            })
        });
    }

    /// Bounds what runs on this thread (deadline, memory, operations) without starting
    /// a rule run: what loading `lib/` modules runs under, where alert builders fail.
    /// [`Run::reset`] ends it.
    pub fn limit(deadline: Instant, limits: &Limits) {
        DEADLINE.set(Some(RunLimits {
            deadline,
            memory_start: crate::memory::thread_balance(),
            max_memory: limits.max_memory,
            max_operations: limits.max_operations,
        }));
        OPERATIONS.set(0);
    }

    /// Ends the run on this thread and returns what it collected, with the operation
    /// count. With no run begun (a bug), an empty run.
    pub fn finish() -> (Run, u64) {
        DEADLINE.set(None);
        let run = RUN.with_borrow_mut(Option::take).unwrap_or(Run {
            id: 0,
            alerts: Vec::new(),
            output: String::new(),
            output_cut: false,
            max_output: 0,
        });
        (run, OPERATIONS.get())
    }

    /// Clears whatever a run or a limit left on this thread (after a panic, or after
    /// loading modules), so the next run starts clean.
    pub fn reset() {
        DEADLINE.set(None);
        RUN.with_borrow_mut(|run| *run = None);
        OPERATIONS.set(0);
    }

    fn with<T>(
        f: impl FnOnce(&mut Run) -> Result<T, Box<EvalAltResult>>,
    ) -> Result<T, Box<EvalAltResult>> {
        RUN.with_borrow_mut(|run| match run {
            Some(run) => f(run),
            None => Err(runtime_error(
                "alerts can only be raised while a rule runs, not while a lib module loads".into(),
            )),
        })
    }

    fn capture(text: &str) {
        RUN.with_borrow_mut(|run| {
            let Some(run) = run else { return };
            if run.output_cut {
                return;
            }
            let room = run.max_output.saturating_sub(run.output.len());
            if text.len() + 1 > room {
                let mut cut = room.min(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                run.output.push_str(&text[..cut]);
                run.output
                    .push_str("\n[output cut: more than the per-rule limit was printed]\n");
                run.output_cut = true;
            } else {
                run.output.push_str(text);
                run.output.push('\n');
            }
        });
    }
}

/// Fails when the current run is past its deadline or memory ceiling. Every host
/// function calls this first; long ones call it as they go.
pub fn check_limits() -> Result<(), Box<EvalAltResult>> {
    match limit_reached() {
        None => Ok(()),
        Some(reason) => Err(Box::new(EvalAltResult::ErrorTerminated(
            reason.into(),
            Position::NONE,
        ))),
    }
}

fn limit_reached() -> Option<&'static str> {
    let limits = DEADLINE.get()?;
    if Instant::now() >= limits.deadline {
        return Some(STOP_DEADLINE);
    }
    if crate::memory::thread_balance() - limits.memory_start > limits.max_memory as isize {
        return Some(STOP_MEMORY);
    }
    if OPERATIONS.get() > limits.max_operations {
        return Some(STOP_OPERATIONS);
    }
    None
}

/// Builds the engine every rule of a rule set runs in.
pub fn engine(limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine.set_optimization_level(OptimizationLevel::Simple);
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.set_max_modules(64);
    engine.set_max_variables(10_000);
    engine.set_max_functions(1_000);
    engine.set_strict_variables(true);
    // The interner is one lock shared by every thread running this engine: with two
    // rule threads it made evaluation 5x slower (BENCHMARKS.md). Strings are small here.
    engine.set_max_strings_interned(0);
    engine.disable_symbol("eval");

    // Called before every operation, including inside closures that built-ins call
    // (whose operations Rhai counts from zero again): count here, check every 1,024.
    engine.on_progress(|_| {
        let ops = OPERATIONS.get() + 1;
        OPERATIONS.set(ops);
        if ops & 1023 == 0 {
            limit_reached().map(Dynamic::from)
        } else {
            None
        }
    });
    engine.on_print(Run::capture);
    engine.on_debug(|text, _source, pos| {
        if pos.is_none() {
            Run::capture(text)
        } else {
            Run::capture(&format!("[line {}] {text}", pos.line().unwrap_or(0)))
        }
    });

    // Rhai's `timestamp()` is the one clock a rule can read besides
    // `request.received_at`; a run that reads it is not reused.
    engine.register_fn("timestamp", || {
        crate::rules::reuse::untracked("it read the clock (`timestamp()`)");
        Instant::now()
    });
    register_json(&mut engine);
    register_builders(&mut engine);
    register_bounded_builtins(&mut engine, limits.max_string_size);
    helpers::register(&mut engine);
    crate::rules::facts::register(&mut engine);
    engine
}

/// Rhai's own `replace` builds its result in one native call, checked against
/// `max_string_size` only afterwards: a 1 MiB text with every byte replaced by 1 MiB
/// asked for a terabyte inside one call, past the memory ceiling and the deadline
/// (both checked between operations), until the process ran out of memory. These
/// overloads (registered functions come before Rhai's packages) size the result first.
fn register_bounded_builtins(engine: &mut Engine, max: usize) {
    fn replace(
        s: &mut ImmutableString,
        find: &str,
        with: &str,
        max: usize,
    ) -> Result<(), Box<EvalAltResult>> {
        check_limits()?;
        if s.is_empty() {
            return Ok(());
        }
        if with.len() > find.len() {
            let count = if find.is_empty() {
                s.chars().count() + 1
            } else {
                memchr::memmem::find_iter(s.as_bytes(), find.as_bytes()).count()
            };
            let grown = count
                .saturating_mul(with.len() - find.len())
                .saturating_add(s.len());
            if max > 0 && grown > max {
                return Err(runtime_error(format!(
                    "replace: the result would be {grown} bytes, more than the {max} a string may hold"
                )));
            }
        }
        *s = s.replace(find, with).into();
        Ok(())
    }
    engine
        .register_fn(
            "replace",
            move |s: &mut ImmutableString, find: &str, with: &str| replace(s, find, with, max),
        )
        .register_fn(
            "replace",
            move |s: &mut ImmutableString, find: &str, with: char| {
                replace(s, find, &with.to_string(), max)
            },
        )
        .register_fn(
            "replace",
            move |s: &mut ImmutableString, find: char, with: &str| {
                replace(s, &find.to_string(), with, max)
            },
        )
        .register_fn(
            "replace",
            move |s: &mut ImmutableString, find: char, with: char| {
                replace(s, &find.to_string(), &with.to_string(), max)
            },
        );
}

fn register_json(engine: &mut Engine) {
    engine
        .register_type_with_name::<Json>("Json")
        .register_indexer_get(|j: &mut Json, name: &str| j.field(name))
        .register_indexer_get(|j: &mut Json, index: i64| j.index(index))
        .register_iterator_result::<Json, Dynamic>()
        .register_fn("len", |j: &mut Json| j.len() as i64)
        .register_fn("is_empty", |j: &mut Json| j.is_empty())
        .register_fn("is_array", |j: &mut Json| j.is_array())
        .register_fn("is_object", |j: &mut Json| !j.is_array())
        // `x in obj` asks for a key; `x in arr` for an element equal to x.
        .register_fn(
            "contains",
            |j: &mut Json, wanted: Dynamic| -> Result<bool, Box<EvalAltResult>> {
                check_limits()?;
                Ok(match j.value().as_ref() {
                    ValueRef::Object(map) => {
                        wanted.is_string()
                            && map.contains_key(&wanted.into_string().unwrap_or_default())
                    }
                    ValueRef::Array(items) => {
                        let wanted = json::to_json(&wanted, "the value").map_err(runtime_error)?;
                        let wanted = json::doc_from(&wanted);
                        items.iter().any(|item| {
                            *item == wanted
                                || (item.is_number()
                                    && wanted.is_number()
                                    && item.as_f64() == wanted.as_f64())
                        })
                    }
                    _ => false,
                })
            },
        )
        .register_fn("keys", |j: &mut Json| -> rhai::Array {
            match j.value().as_object() {
                Some(map) => map
                    .iter()
                    .map(|(k, _)| Dynamic::from(ImmutableString::from(k)))
                    .collect(),
                None => rhai::Array::new(),
            }
        })
        .register_fn(
            "values",
            |j: &mut Json| -> Result<rhai::Array, Box<EvalAltResult>> {
                check_limits()?;
                Ok(match j.value().as_ref() {
                    ValueRef::Object(map) => map.iter().map(|(_, v)| j.wrap(v)).collect(),
                    ValueRef::Array(items) => items.iter().map(|v| j.wrap(v)).collect(),
                    _ => rhai::Array::new(),
                })
            },
        )
        .register_fn("to_json", |j: &mut Json| j.to_string())
        .register_fn("to_string", |j: &mut Json| j.to_string())
        .register_fn("to_debug", |j: &mut Json| j.to_string());
}

/// Registers `obj.name` getters on [`Json`] for `names`, so reading those properties
/// is one function call instead of a failed getter lookup plus the indexer.
pub fn register_json_getters(engine: &mut Engine, names: impl IntoIterator<Item = String>) {
    for name in names {
        let field = name.clone();
        engine.register_get(&name, move |j: &mut Json| j.field(&field));
    }
}

/// The handle `info()`, `warning()` and `error()` return, for chaining: the run that
/// raised the alert and its index there.
#[derive(Clone, Copy)]
pub struct AlertRef {
    run: u64,
    index: usize,
}

fn text_arg(helper: &str, arg: &str, value: &Dynamic) -> Result<String, Box<EvalAltResult>> {
    if value.is_string() {
        return Ok(value.clone().into_string().unwrap_or_default());
    }
    Err(runtime_error(format!(
        "{helper}: {arg} must be a string, got {}",
        helpers::type_name(value)
    )))
}

fn raise(
    alert_type: AlertType,
    helper: &str,
    message: &Dynamic,
) -> Result<AlertRef, Box<EvalAltResult>> {
    check_limits()?;
    let message = text_arg(helper, "the message", message)?;
    alerts::check_message(&message).map_err(|e| runtime_error(format!("{helper}: {e}")))?;
    Run::with(|run| {
        run.alerts.push(Alert::new(alert_type, message));
        Ok(AlertRef {
            run: run.id,
            index: run.alerts.len() - 1,
        })
    })
}

fn update(
    alert: AlertRef,
    f: impl FnOnce(&mut Alert) -> Result<(), String>,
) -> Result<AlertRef, Box<EvalAltResult>> {
    check_limits()?;
    Run::with(|run| {
        let target = match run.alerts.get_mut(alert.index) {
            Some(target) if alert.run == run.id => target,
            _ => {
                return Err(runtime_error(
                    "this alert was raised by another run (kept in a lib module's variable?); raise alerts in the rule, or in a lib function the rule calls"
                        .into(),
                ))
            }
        };
        f(target).map_err(runtime_error)?;
        Ok(alert)
    })
}

/// A display-field value as the card shows it.
pub fn display_value(value: &Dynamic) -> Result<String, String> {
    if value.is_unit() {
        return Ok("—".into());
    }
    if value.is_string() {
        return Ok(value.clone().into_string().unwrap_or_default());
    }
    if let Ok(i) = value.as_int() {
        return Ok(i.to_string());
    }
    if let Ok(f) = value.as_float() {
        return Ok(alerts::format_number(f));
    }
    if let Ok(b) = value.as_bool() {
        return Ok(b.to_string());
    }
    if let Ok(c) = value.as_char() {
        return Ok(c.to_string());
    }
    json::to_json(value, "the value").map(|v| v.to_string())
}

fn register_builders(engine: &mut Engine) {
    engine
        .register_type_with_name::<AlertRef>("Alert")
        .register_fn("info", |m: Dynamic| raise(AlertType::Unspecified, "info", &m))
        .register_fn("warning", |m: Dynamic| raise(AlertType::PermanentWarning, "warning", &m))
        .register_fn("error", |m: Dynamic| raise(AlertType::Error, "error", &m))
        .register_fn("field", |a: &mut AlertRef, label: Dynamic, value: Dynamic| {
            let label = text_arg("field(label, value)", "label", &label)?;
            update(*a, |alert| {
                alerts::check_label(&label)?;
                let value = display_value(&value).map_err(|e| format!("field(\"{label}\", value): {e}"))?;
                alert.display_fields.push(DisplayField { label, value });
                Ok(())
            })
        })
        .register_fn("link", |a: &mut AlertRef, url: Dynamic| {
            let url = text_arg("link(url)", "url", &url)?;
            update(*a, |alert| {
                alerts::check_link(&url)?;
                alert.link = Some(url);
                Ok(())
            })
        })
        .register_fn("mutation", |a: &mut AlertRef, change: Dynamic| {
            update(*a, |alert| {
                match json::to_json(&change, "mutation")? {
                    serde_json::Value::Object(map) => alert.mutation = Some(map),
                    other => {
                        return Err(format!(
                            "mutation(change): the change must be a map like #{{ estimateItineraries: #{{ speed: 13.4 }} }}, got {}",
                            json_kind(&other)
                        ))
                    }
                }
                Ok(())
            })
        })
        .register_fn("key", |a: &mut AlertRef, key: Dynamic| {
            let key = if key.is_string() {
                key.into_string().unwrap_or_default()
            } else if key.is_int() || key.is_float() {
                display_value(&key).unwrap_or_default()
            } else {
                return Err(runtime_error(format!("key(text): text must be a string, got {}", helpers::type_name(&key))));
            };
            update(*a, |alert| {
                if key.trim().is_empty() {
                    return Err("key(text): the key is empty; use something that names what the alert is about, e.g. the fuel type".into());
                }
                alert.key = Some(key);
                Ok(())
            })
        })
        .register_fn("to_string", |a: &mut AlertRef| format!("Alert #{}", a.index))
        .register_fn("to_debug", |a: &mut AlertRef| format!("Alert #{}", a.index));
}

/// An error's message without the " (line 3, position 7)" Rhai appends, and that position.
pub fn describe(err: &EvalAltResult) -> (String, Position) {
    let pos = err.position();
    if let EvalAltResult::ErrorFunctionNotFound(signature, _) = err {
        if let Some(message) = no_such_function(signature) {
            return (message, pos);
        }
    }
    let text = err.to_string();
    let suffix = format!(" ({pos})");
    let message = if pos.is_none() {
        text
    } else {
        text.strip_suffix(&suffix)
            .map(str::to_string)
            .unwrap_or(text)
    };
    (message, pos)
}

/// Rhai's `Function not found: * (&str | ImmutableString | String, i64)`, in desk
/// words: which operator or function, on what kinds of values, and what to do.
fn no_such_function(signature: &str) -> Option<String> {
    let (name, args) = signature.split_once(" (")?;
    let args: Vec<&str> = args
        .strip_suffix(')')?
        .split(", ")
        .filter(|a| !a.is_empty())
        .map(value_words)
        .collect();
    let texts = args.iter().filter(|a| **a == "a string").count();
    let numbers = args.iter().filter(|a| **a == "a number").count();
    let nothing = args.iter().any(|a| a.starts_with("nothing"));
    let hint = if nothing {
        "; a value was missing (an absent field reads as `()`): check it first, or use `?.` and `??`"
    } else if texts > 0 && numbers > 0 {
        "; the string may hold a number (a CSV cell in a column that is not all numbers, a number sent as text): make it one with to_number(x)"
    } else {
        ""
    };
    if let Some(field) = name.strip_prefix("get$") {
        return Some(format!(
            "cannot read field `{field}` of {}{hint}",
            args.first().unwrap_or(&"this value")
        ));
    }
    if let Some(field) = name.strip_prefix("set$") {
        return Some(format!(
            "cannot set field `{field}` of {}",
            args.first().unwrap_or(&"this value")
        ));
    }
    let operator = matches!(
        name,
        "+" | "-"
            | "*"
            | "/"
            | "%"
            | "**"
            | "<"
            | ">"
            | "<="
            | ">="
            | "=="
            | "!="
            | "&"
            | "|"
            | "^"
            | "<<"
            | ">>"
            | "+="
            | "-="
            | "*="
            | "/="
            | "%="
            | "**="
            | "&="
            | "|="
            | "^="
            | "<<="
            | ">>="
    );
    Some(match (operator, args.as_slice()) {
        (true, [left, right]) => format!("cannot use `{name}` on {left} and {right}{hint}"),
        (true, [one]) => format!("cannot use `{name}` on {one}{hint}"),
        _ if args.is_empty() => format!("there is no function `{name}()` without arguments"),
        _ => format!(
            "there is no function `{name}` taking ({}){hint}; `lookout helpers` lists the helpers",
            args.join(", ")
        ),
    })
}

/// A Rhai type name (as in its signatures) in a rule author's words (those of
/// [`helpers::type_name`]).
fn value_words(type_name: &str) -> &'static str {
    match type_name {
        "&str | ImmutableString | String" | "string" | "&str" | "ImmutableString" | "String" => {
            "a string"
        }
        "i64" | "INT" | "int" | "f64" | "FLOAT" | "float" => "a number",
        "()" => "nothing (`()`)",
        "bool" => "a boolean",
        "char" => "a character",
        "Json" => "a part of the estimate (an object or array)",
        "array" | "Array" => "an array",
        "map" | "Map" => "a map",
        "Alert" => "an alert",
        "Fn" | "FnPtr" => "a function",
        "timestamp" | "Instant" => "a timestamp",
        _ => "a value of another kind",
    }
}

pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "nothing (`()`)",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "a map",
    }
}
