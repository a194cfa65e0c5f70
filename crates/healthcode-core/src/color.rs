//! The three colours of a health code, ordered by severity.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A health-code colour. `Ord` follows severity, so the colour of a status is the `max` of its
/// reasons' colours. `Pending` (审核中) is what a code shows when the policy could not decide
/// (a rule failed to evaluate): never green, and stricter than yellow, but a red that did apply
/// still shows red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Green,
    Yellow,
    Pending,
    Red,
}

impl Color {
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Green => "green",
            Color::Yellow => "yellow",
            Color::Pending => "pending",
            Color::Red => "red",
        }
    }

    pub fn parse(s: &str) -> Option<Color> {
        [Color::Green, Color::Yellow, Color::Pending, Color::Red]
            .into_iter()
            .find(|c| c.as_str() == s)
    }

    /// The word shown on screen, as the codes of 2020 showed it (绿码 / 黄码 / 红码).
    pub fn word_zh(self) -> &'static str {
        match self {
            Color::Green => "绿码",
            Color::Yellow => "黄码",
            Color::Pending => "审核中",
            Color::Red => "红码",
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
