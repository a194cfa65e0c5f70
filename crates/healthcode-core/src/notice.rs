//! What a person is told when their colour changes (SMS and in-app notice): the change and the
//! reason that made it, in Chinese and English.

use crate::color::Color;
use crate::policy::Status;
use crate::text::Text;

/// The message for a change from `from` to the colour of `status`, naming its weightiest reason
/// and notice (or, for green, that no reason applies any more).
pub fn colour_change(from: Color, status: &Status) -> Text {
    let to = status.color;
    let (why_zh, why_en) = match status.reasons.first() {
        Some(reason) => {
            let notice = reason.notice.as_ref();
            (
                format!(
                    "{}{}",
                    reason.text.zh,
                    notice.map(|n| n.zh.as_str()).unwrap_or_default()
                ),
                match notice {
                    Some(n) => format!("{} {}", reason.text.en, n.en),
                    None => reason.text.en.clone(),
                },
            )
        }
        None => (
            "原赋码理由均已结束。".to_owned(),
            "No reason for another colour applies any more.".to_owned(),
        ),
    };
    Text {
        zh: format!(
            "【健康码】您的健康码已由{}转为{}。{why_zh}",
            from.word_zh(),
            to.word_zh()
        ),
        en: format!("[Health code] Your code changed from {from} to {to}. {why_en}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;
    use crate::facts::{Fact, FactBody};
    use time::macros::datetime;

    #[test]
    fn a_change_names_its_reason_and_a_return_to_green_says_so() {
        let policy = Policy::default_policy().unwrap_or_else(|e| panic!("{e}"));
        let contact = Fact {
            id: "f-1".into(),
            recorded_at: datetime!(2020-02-10 12:00 UTC),
            legal_basis: "trace of case f-0".into(),
            body: FactBody::Contact {
                level: crate::facts::ContactLevel::Close,
                case_id: "f-0".into(),
                venue: "Wulin Square station".into(),
                exposure_start: datetime!(2020-02-10 08:00 UTC),
                exposure_end: datetime!(2020-02-10 08:30 UTC),
            },
        };
        let red = policy.evaluate(&[contact], datetime!(2020-02-10 13:00 UTC));
        let text = colour_change(Color::Green, &red);
        assert!(
            text.zh
                .starts_with("【健康码】您的健康码已由绿码转为红码。"),
            "{}",
            text.zh
        );
        assert!(
            text.zh.contains("一名确诊病例")
                && text.zh.contains("Wulin Square station")
                && !text.zh.contains("f-0"),
            "the case by no id: {}",
            text.zh
        );
        assert!(text.en.contains("from green to red") && text.en.contains("a confirmed case"));
        let green = policy.evaluate(&[], datetime!(2020-03-10 13:00 UTC));
        let back = colour_change(Color::Red, &green);
        assert!(back.en.contains("from red to green") && back.en.contains("No reason"));
        assert!(back.zh.contains("由红码转为绿码"));
    }
}
