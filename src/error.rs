//! The one place where pg_clip failures become Postgres errors. Core modules return plain Rust errors;
//! the SQL layer calls [`ClipError::report`], which raises an ERROR with a stable SQLSTATE, so clients can
//! tell bad input (22xxx), limits (54000), missing models (58P01) and timeouts (57014) apart.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

use crate::fetch::FetchError;
use crate::model::ModelError;
use crate::preprocess::PreprocessError;

#[derive(Debug)]
pub enum ClipError {
    /// An image could not be turned into a tensor; `index` is the 1-based array position in batch calls.
    Image { index: Option<usize>, source: PreprocessError },
    Model(ModelError),
    /// `clip.timeout_ms` ran out (statement_timeout and cancel use Postgres' own error).
    Timeout { limit_ms: u128 },
    Inference(String),
    /// A pass was refused memory (53200) or a thread (53000): the server is short, not the input bad.
    OutOfMemory(String),
    NoThread(String),
    /// pgvector's `vector` type is not in this database.
    MissingVectorType,
    Fetch(FetchError),
    TextTooLong { bytes: usize, limit: usize },
    /// The caller may not do this (acting as a table's owner without its privileges).
    NotPermitted(String),
    /// The object is of the wrong kind for the operation (a temporary table, a view).
    WrongObject(String),
    UndefinedTable(String),
    /// A setting holds a value pg_clip cannot use.
    Setting(String),
    /// A broken internal invariant: a bug in pg_clip, never bad input.
    Internal(String),
}

impl ClipError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            ClipError::Image { source, .. } => match source {
                PreprocessError::Empty => ERRCODE_INVALID_PARAMETER_VALUE,
                PreprocessError::TooManyBytes { .. } | PreprocessError::TooManyPixels { .. } => {
                    ERRCODE_PROGRAM_LIMIT_EXCEEDED
                }
                PreprocessError::UnrecognizedFormat | PreprocessError::Corrupt(_) => {
                    ERRCODE_INVALID_BINARY_REPRESENTATION
                }
                PreprocessError::UnsupportedFormat(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
                PreprocessError::OutOfMemory(_) => ERRCODE_OUT_OF_MEMORY,
                // Normally never raised as such: the caller services the interrupt that caused it first.
                PreprocessError::Stopped => ERRCODE_QUERY_CANCELED,
            },
            ClipError::Model(ModelError::NotFound { .. }) => ERRCODE_UNDEFINED_FILE,
            ClipError::Model(ModelError::Unreadable { .. }) => ERRCODE_IO_ERROR,
            ClipError::Model(ModelError::Resources { .. }) => ERRCODE_INSUFFICIENT_RESOURCES,
            ClipError::Model(_) => ERRCODE_CONFIG_FILE_ERROR,
            ClipError::Timeout { .. } => ERRCODE_QUERY_CANCELED,
            ClipError::Inference(_) => ERRCODE_INTERNAL_ERROR,
            ClipError::OutOfMemory(_) => ERRCODE_OUT_OF_MEMORY,
            ClipError::NoThread(_) => ERRCODE_INSUFFICIENT_RESOURCES,
            ClipError::MissingVectorType => ERRCODE_UNDEFINED_OBJECT,
            ClipError::Fetch(f) => match f {
                FetchError::InvalidUrl(_) => ERRCODE_INVALID_PARAMETER_VALUE,
                FetchError::Refused { .. } | FetchError::OutsideAllowlist { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
                FetchError::TooLarge { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                FetchError::Timeout | FetchError::Network(_) => ERRCODE_CONNECTION_FAILURE,
                FetchError::Status { .. } | FetchError::TooManyRedirects { .. } => ERRCODE_CONNECTION_EXCEPTION,
                FetchError::Interrupted => ERRCODE_QUERY_CANCELED,
                FetchError::OutOfMemory { .. } => ERRCODE_OUT_OF_MEMORY,
            },
            ClipError::TextTooLong { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            ClipError::NotPermitted(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            ClipError::WrongObject(_) => ERRCODE_WRONG_OBJECT_TYPE,
            ClipError::UndefinedTable(_) => ERRCODE_UNDEFINED_TABLE,
            ClipError::Setting(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            ClipError::Internal(_) => ERRCODE_INTERNAL_ERROR,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ClipError::Image { index: Some(i), source } => format!("image {i} of the batch: {source}"),
            ClipError::Image { index: None, source } => source.to_string(),
            ClipError::Model(e) => e.to_string(),
            ClipError::Timeout { limit_ms } => {
                format!("canceling CLIP inference: it ran longer than clip.timeout_ms ({limit_ms} ms)")
            }
            ClipError::Inference(msg) => format!("CLIP inference failed: {msg}"),
            ClipError::OutOfMemory(msg) => format!("out of memory in CLIP inference: {msg}"),
            ClipError::NoThread(msg) => format!("CLIP inference could not start a thread: {msg}"),
            ClipError::MissingVectorType => "pgvector's type \"vector\" was not found".into(),
            ClipError::Fetch(f) => f.to_string(),
            ClipError::TextTooLong { bytes, limit } => {
                format!("text of {bytes} bytes exceeds clip.max_text_bytes ({limit})")
            }
            ClipError::NotPermitted(m)
            | ClipError::WrongObject(m)
            | ClipError::UndefinedTable(m)
            | ClipError::Setting(m) => m.clone(),
            ClipError::Internal(m) => format!("pg_clip internal error: {m}"),
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            ClipError::Model(e) => Some(e.hint()),
            ClipError::Image { source: PreprocessError::TooManyBytes { .. }, .. } => {
                Some("Raise clip.max_image_bytes, or store a smaller thumbnail.".into())
            }
            ClipError::Image { source: PreprocessError::TooManyPixels { .. }, .. } => {
                Some("Raise clip.max_image_pixels, or store a smaller thumbnail.".into())
            }
            ClipError::MissingVectorType => Some("pg_clip requires the vector extension: CREATE EXTENSION vector;".into()),
            ClipError::Timeout { .. } => Some("Raise clip.timeout_ms, or embed fewer images per call.".into()),
            _ => None,
        }
    }

    /// Raises the error in Postgres; never returns.
    pub fn report(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), self.message(), "pg_clip");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        if let ClipError::Model(e) = &self {
            if let Some(detail) = e.detail() {
                report = report.set_detail(detail);
            }
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ereport(ERROR) returned")
    }
}

impl From<ModelError> for ClipError {
    fn from(e: ModelError) -> Self {
        ClipError::Model(e)
    }
}

/// Unwraps a result or raises its error; the SQL functions' only exit for failures.
pub trait OrReport<T> {
    fn or_report(self) -> T;
}

impl<T> OrReport<T> for Result<T, ClipError> {
    fn or_report(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.report(),
        }
    }
}

/// The five-character SQLSTATE of a code, for functions that return errors as data.
pub fn sqlstate_text(code: PgSqlErrorCode) -> String {
    let packed = code as i32;
    (0..5).map(|i| (((packed >> (6 * i)) & 0x3f) as u8 + b'0') as char).collect()
}
