//! JSON log lines on standard error, one object per line: time, level, the object the line
//! is about, and the message (upstream logs JSON the same way, through zap).

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Everything.
    Debug = 0,
    /// Normal operation.
    Info = 1,
    /// Something went wrong and will be retried.
    Warn = 2,
    /// Something went wrong.
    Error = 3,
}

impl Level {
    /// Parse `debug`, `info`, `warn` or `error`.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" | "warning" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Set the lowest level written.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Write one line at `level` about `object`.
pub fn line(level: Level, object: &str, message: &str) {
    if (level as u8) < LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let time = jiff::Timestamp::now().to_string();
    let v = serde_json::json!({
        "level": level.name(),
        "time": time,
        "logger": "controller",
        "object": object,
        "message": message,
    });
    eprintln!("{v}");
}

/// Debug line.
pub fn debug(object: &str, message: &str) {
    line(Level::Debug, object, message);
}

/// Info line.
pub fn info(object: &str, message: &str) {
    line(Level::Info, object, message);
}

/// Warning line.
pub fn warn(object: &str, message: &str) {
    line(Level::Warn, object, message);
}

/// Error line.
pub fn error(object: &str, message: &str) {
    line(Level::Error, object, message);
}
