//! The access line (target `freshgate::access`, one per request) formatted straight into a
//! reused per-thread buffer: integers with `itoa`, strings copied when they need no escaping,
//! and the timestamp's date and time of day kept from the previous line of the same second.
//! The bytes are those tracing-subscriber's text and JSON formats write for the same event;
//! what this path does not cover (spans, colour, unusual field kinds, times it cannot
//! write) is left to them.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The access log's target.
pub const TARGET: &str = "freshgate::access";

thread_local! {
    /// The line being formatted, and a scratch buffer for JSON's `Debug` values.
    static LINE: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
    /// The timestamp up to the second (`2025-01-31T12:34:56.`) and the Unix second it is for.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// An event formatter that writes access lines itself and hands every other event to `inner`.
#[derive(Debug)]
pub struct Fast<F> {
    inner: F,
    json: bool,
}

impl<F> Fast<F> {
    pub fn new(inner: F, json: bool) -> Self {
        Fast { inner, json }
    }
}

impl<S, N, F> FormatEvent<S, N> for Fast<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let plain = self.json || !writer.has_ansi_escapes();
        if plain && event.metadata().target() == TARGET && ctx.event_scope().is_none() {
            let written = LINE.with(|line| {
                let mut buffers = line.try_borrow_mut().ok()?;
                let (line, scratch) = &mut *buffers;
                line.clear();
                format_line(line, scratch, event, self.json).then(|| writer.write_str(line))
            });
            if let Some(result) = written {
                return result;
            }
        }
        self.inner.format_event(ctx, writer, event)
    }
}

/// Writes the whole line; false when it is left to the generic formatter.
fn format_line(line: &mut String, scratch: &mut String, event: &Event<'_>, json: bool) -> bool {
    let meta = event.metadata();
    if json {
        line.push_str("{\"timestamp\":\"");
        if !timestamp(line) {
            return false;
        }
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"fields\":{");
        let mut fields = Fields::new(line, Json(scratch));
        event.record(&mut fields);
        if !fields.ok {
            return false;
        }
        line.push_str("},\"target\":");
        json_str(line, meta.target());
        line.push_str("}\n");
    } else {
        if !timestamp(line) {
            return false;
        }
        line.push(' ');
        line.push_str(match *meta.level() {
            Level::INFO => " INFO",
            Level::WARN => " WARN",
            ref level => level.as_str(),
        });
        line.push(' ');
        line.push_str(meta.target());
        line.push_str(": ");
        let mut fields = Fields::new(line, Text);
        event.record(&mut fields);
        if !fields.ok {
            return false;
        }
        line.push('\n');
    }
    true
}

/// `2025-01-31T12:34:56.789012Z`, as tracing-subscriber's `SystemTime` timer writes it.
fn timestamp(line: &mut String) -> bool {
    let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return false;
    };
    let second = now.as_secs();
    let known = SECOND.with_borrow_mut(|(cached, prefix)| {
        if *cached != second {
            prefix.clear();
            if !date_and_time(prefix, second) {
                return false;
            }
            *cached = second;
        }
        line.push_str(prefix);
        true
    });
    if !known {
        return false;
    }
    let micros = now.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    line.extend(digits.iter().map(|&d| char::from(d)));
    line.push('Z');
    true
}

/// The timestamp of a Unix second up to and with the dot; years past 9999 are left out.
fn date_and_time(prefix: &mut String, second: u64) -> bool {
    let Some(t) = i64::try_from(second)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
    else {
        return false;
    };
    write!(
        prefix,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
    .is_ok()
}

/// How one of the two formats writes field names and values.
trait Style {
    fn separator(&self) -> char;
    fn name(line: &mut String, name: &str);
    fn str(&mut self, line: &mut String, value: &str);
    fn debug(&mut self, line: &mut String, value: &dyn fmt::Debug);
}

/// tracing-subscriber's `DefaultFields`: `name=value`, strings in their `Debug` form.
struct Text;

impl Style for Text {
    fn separator(&self) -> char {
        ' '
    }

    fn name(line: &mut String, name: &str) {
        line.push_str(name);
        line.push('=');
    }

    fn str(&mut self, line: &mut String, value: &str) {
        if value.bytes().all(|b| PLAIN_DEBUG[usize::from(b)]) {
            quoted(line, value);
        } else {
            let _ = write!(line, "{value:?}");
        }
    }

    fn debug(&mut self, line: &mut String, value: &dyn fmt::Debug) {
        let _ = write!(line, "{value:?}");
    }
}

/// tracing-serde's field map: `"name":value`, `Debug` values as strings.
struct Json<'a>(&'a mut String);

impl Style for Json<'_> {
    fn separator(&self) -> char {
        ','
    }

    fn name(line: &mut String, name: &str) {
        json_str(line, name);
        line.push(':');
    }

    fn str(&mut self, line: &mut String, value: &str) {
        json_str(line, value);
    }

    fn debug(&mut self, line: &mut String, value: &dyn fmt::Debug) {
        self.0.clear();
        let _ = write!(self.0, "{value:?}");
        json_str(line, self.0);
    }
}

/// A JSON string as serde_json writes it.
fn json_str(line: &mut String, value: &str) {
    if value.bytes().all(|b| PLAIN_JSON[usize::from(b)]) {
        quoted(line, value);
    } else if let Ok(quoted) = serde_json::to_string(value) {
        line.push_str(&quoted);
    }
}

fn quoted(line: &mut String, value: &str) {
    line.reserve(value.len() + 2);
    line.push('"');
    line.push_str(value);
    line.push('"');
}

/// Bytes `str`'s `Debug` writes as they are: printable ASCII but `"` and `\`.
const PLAIN_DEBUG: [bool; 256] = plain(b' ', b'~');
/// Bytes a JSON string holds as they are: all but control characters, `"` and `\`
/// (serde_json leaves DEL and UTF-8 sequences alone).
const PLAIN_JSON: [bool; 256] = plain(b' ', 0xff);

const fn plain(low: u8, high: u8) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = low as usize;
    while b <= high as usize {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
}

/// The event's fields in the order they were recorded; `ok` turns false on a field this path
/// does not write the way the generic formatter would.
struct Fields<'a, S> {
    line: &'a mut String,
    style: S,
    first: bool,
    ok: bool,
}

impl<'a, S: Style> Fields<'a, S> {
    fn new(line: &'a mut String, style: S) -> Self {
        Fields {
            line,
            style,
            first: true,
            ok: true,
        }
    }

    /// Writes the separator and the name; false if the field is left to the generic path.
    fn name(&mut self, field: &Field) -> bool {
        let name = field.name();
        // tracing-subscriber treats these names apart (first byte first: this runs per field).
        if matches!(name.as_bytes().first(), Some(b'm' | b'r' | b'l'))
            && (name == "message" || name.starts_with("r#") || name.starts_with("log."))
        {
            self.ok = false;
        }
        if !self.ok {
            return false;
        }
        if !self.first {
            self.line.push(self.style.separator());
        }
        self.first = false;
        S::name(self.line, name);
        true
    }
}

impl<S: Style> Visit for Fields<'_, S> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.name(field) {
            self.style.str(self.line, value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.name(field) {
            self.line.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.name(field) {
            self.line.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.name(field) {
            self.line.push_str(if value { "true" } else { "false" });
        }
    }

    /// Floats (JSON numbers) and errors (text: with their sources) are the generic path's.
    fn record_f64(&mut self, _: &Field, _: f64) {
        self.ok = false;
    }

    fn record_error(&mut self, _: &Field, _: &(dyn std::error::Error + 'static)) {
        self.ok = false;
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.name(field) {
            self.style.debug(self.line, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::{IpAddr, Ipv6Addr};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer that keeps what is written.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// An access event with the field kinds `Exchange::log` records.
    fn emit(id: &str, client: Option<IpAddr>, subject: Option<&str>, upstream: Option<u64>) {
        tracing::event!(
            target: "freshgate::access",
            Level::INFO,
            request.id = id,
            client.address = client.map(|ip| tracing::field::display(crate::logging::Address(ip))),
            http.method = "GET",
            http.path = "/a/b",
            route.id = "* /a",
            route.policy = "access",
            auth.decision = "forwarded",
            auth.reason = "-",
            http.status = 200u16,
            latency_us = 1234u64,
            upstream.latency_us = upstream,
            auth.subject = subject,
        );
    }

    /// The line the generic formatter writes and the one this path writes, for one event.
    fn both(json: bool, event: impl Fn()) -> (String, String) {
        let (generic, fast) = (Capture::default(), Capture::default());
        let (g, f) = (generic.clone(), fast.clone());
        let builder = || tracing_subscriber::fmt().with_ansi(false);
        if json {
            let plain = builder().json().with_writer(move || g.clone()).finish();
            tracing::subscriber::with_default(plain, &event);
            let quick = builder().json().with_writer(move || f.clone());
            let quick = quick.map_event_format(|e| Fast::new(e, true)).finish();
            tracing::subscriber::with_default(quick, &event);
        } else {
            let plain = builder().with_writer(move || g.clone()).finish();
            tracing::subscriber::with_default(plain, &event);
            let quick = builder().with_writer(move || f.clone());
            let quick = quick.map_event_format(|e| Fast::new(e, false)).finish();
            tracing::subscriber::with_default(quick, &event);
        }
        (generic.text(), fast.text())
    }

    /// Splits the timestamp off a line, checking its shape: `2025-01-31T12:34:56.789012Z`.
    fn timestamp_of(line: &str, json: bool) -> (String, String) {
        let start = if json { "{\"timestamp\":\"".len() } else { 0 };
        let time = &line[start..start + 27];
        let shape = time.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            26 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
        assert!(shape, "a timestamp: {time:?} in {line:?}");
        let rest = format!("{}{}", &line[..start], &line[start + 27..]);
        (time.to_owned(), rest)
    }

    fn assert_same_line(json: bool, event: impl Fn()) {
        let (generic, fast) = both(json, event);
        assert!(generic.ends_with('\n') && generic.matches('\n').count() == 1);
        let (generic_time, generic_rest) = timestamp_of(&generic, json);
        let (fast_time, fast_rest) = timestamp_of(&fast, json);
        assert_eq!(fast_rest, generic_rest, "json: {json}");
        assert!(generic_time <= fast_time, "{generic_time} then {fast_time}");
        assert_eq!(generic_time[..10], fast_time[..10], "the same day");
    }

    #[test]
    fn an_access_line_has_the_generic_formatters_bytes_in_text_and_json() {
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        for json in [false, true] {
            assert_same_line(json, || {
                emit("req-1", Some([10, 0, 0, 7].into()), None, None)
            });
            assert_same_line(json, || emit("req-2", Some(v6), Some("alice"), Some(17)));
            assert_same_line(json, || emit("req-3", None, Some(""), Some(u64::MAX)));
        }
    }

    #[test]
    fn strings_that_need_escaping_are_escaped_as_the_generic_formatter_escapes_them() {
        let awkward = [
            "quote \" and backslash \\",
            "tab\tnew line\nreturn\r",
            "escape \u{1b}[31m bell \u{7} delete \u{7f}",
            "caf\u{e9} \u{301}combining, \u{200b}zero width, \u{85}C1, \u{1F600}",
            "'single' quotes",
        ];
        for json in [false, true] {
            for text in awkward {
                assert_same_line(json, || emit(text, None, Some(text), None));
            }
        }
    }

    #[test]
    fn other_events_and_unusual_fields_are_left_to_the_generic_formatter() {
        let error = io::Error::other("disk on fire");
        for json in [false, true] {
            assert_same_line(json, || tracing::info!(answer = 42, "a message"));
            assert_same_line(
                json,
                || tracing::info!(target: "freshgate::access", ratio = 0.5, ok = true, n = -3i64),
            );
            assert_same_line(json, || {
                let error: &(dyn std::error::Error + 'static) = &error;
                tracing::warn!(target: "freshgate::access", error, "with a message")
            });
            assert_same_line(json, || {
                let span = tracing::info_span!("request", id = 7);
                let _inside = span.enter();
                emit("in-a-span", None, None, None);
            });
        }
    }

    /// Lines written with `Fast` over a generic formatter that writes only `generic`.
    fn fast_or_generic(json: bool, event: impl Fn()) -> String {
        type Generic<S, N> = fn(&FmtContext<'_, S, N>, Writer<'_>, &Event<'_>) -> fmt::Result;
        let out = Capture::default();
        let o = out.clone();
        let builder = tracing_subscriber::fmt().with_ansi(false);
        let subscriber = builder
            .with_writer(move || o.clone())
            .map_event_format(|_| {
                let generic: Generic<_, _> = |_, mut w, _| writeln!(w, "generic");
                Fast::new(generic, json)
            });
        tracing::subscriber::with_default(subscriber.finish(), event);
        out.text()
    }

    #[test]
    fn access_lines_take_the_fast_path_and_lines_in_a_span_do_not() {
        for json in [false, true] {
            let line = fast_or_generic(json, || emit("id", None, None, None));
            assert!(line.contains("request.id"), "{line}");
            let line = fast_or_generic(json, || {
                let _inside = tracing::info_span!("request").entered();
                emit("id", None, None, None);
            });
            assert_eq!(line, "generic\n");
        }
    }

    #[test]
    fn the_time_of_day_is_written_for_the_unix_second() {
        for (second, expected) in [
            (0, "1970-01-01T00:00:00."),
            (951_825_599, "2000-02-29T11:59:59."),
            (4_102_444_800, "2100-01-01T00:00:00."),
        ] {
            let mut prefix = String::new();
            assert!(date_and_time(&mut prefix, second));
            assert_eq!(prefix, expected);
        }
        let mut prefix = String::new();
        assert!(!date_and_time(&mut prefix, 253_402_300_800), "year 10000");
    }
}
