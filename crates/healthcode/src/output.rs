//! Standard output of the commands. A reader may stop early (`healthcode verify … | head -1`):
//! the next write then fails with a broken pipe, on which `println!` panics. Here the output
//! just ends: the write is dropped and the command goes on to its own exit status. Any other
//! write error (a full disk, say) is a [`Failure`], since the output was not delivered.
//!
//! Commands print with [`out!`] and [`outln!`], which take `print!`'s arguments and give
//! `Result<(), Failure>`; a running node's banner goes through [`or_log`].

use std::fmt;
use std::io::{self, Write};

use crate::failure::Failure;

/// Writes `args` to standard output (locked for the whole write) and flushes it.
pub fn write(args: fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.flush());
    delivered(written)
}

/// For what a node prints once it runs (`serve`, `demo`): a write that failed is logged, and the
/// node goes on serving.
pub fn or_log(printed: Result<(), Failure>) {
    if let Err(failure) = printed {
        tracing::warn!(code = failure.code, "{}", failure.en);
    }
}

/// The outcome of a write to standard output: a closed pipe ends the output quietly.
fn delivered(written: io::Result<()>) -> Result<(), Failure> {
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Failure::new(
            "stdout",
            format!("cannot write to standard output: {e}"),
            format!("无法写入标准输出：{e}"),
        )),
        _ => Ok(()),
    }
}

/// `print!` to standard output, quiet on a closed pipe: `Result<(), Failure>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}

/// `println!` to standard output, quiet on a closed pipe: `Result<(), Failure>`.
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_ends_the_output_and_other_errors_fail() {
        assert!(delivered(Ok(())).is_ok());
        assert!(delivered(Err(io::ErrorKind::BrokenPipe.into())).is_ok());
        let full = delivered(Err(io::Error::from_raw_os_error(28))).unwrap_err();
        assert_eq!(full.code, "stdout");
    }
}
