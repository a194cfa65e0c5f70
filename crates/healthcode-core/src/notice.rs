//! What a person is told when their colour changes (SMS and in-app notice): the change and the
//! reason that made it, in Chinese and English.

use crate::color::Color;
use crate::policy::{MESSAGE_PLACEHOLDERS, Messages, Status};
use crate::text::Text;

impl Default for Messages {
    /// The shipped words: the change, why, what to do, and the health hotline 12320.
    fn default() -> Messages {
        Messages {
            colour_change: Text {
                zh: "【健康码】您的健康码已由{from}转为{to}。{why}{what_to_do}咨询请拨打 {hotline}。"
                    .into(),
                en: "[Health code] Your code changed from {from} to {to}. {why} {what_to_do} Questions: call {hotline}."
                    .into(),
            },
            back_to_green: Text {
                zh: "【健康码】您的健康码已由{from}转为{to}。原赋码理由均已结束。".into(),
                en: "[Health code] Your code changed from {from} to {to}. No reason for another colour applies any more."
                    .into(),
            },
            hotline: "12320".into(),
        }
    }
}

/// The message for a change from `from` to the colour of `status`, in the words of `messages`:
/// the weightiest reason and its notice (or, for green, that no reason applies any more).
pub fn colour_change(messages: &Messages, from: Color, status: &Status) -> Text {
    let to = status.color;
    let text = |s: String| serde_json::Value::String(s);
    let (template, why, todo) = match status.reasons.first() {
        Some(reason) => (
            &messages.colour_change,
            reason.text.clone(),
            reason.notice.clone().unwrap_or_default(),
        ),
        None => (&messages.back_to_green, Text::default(), Text::default()),
    };
    let fill = |zh: bool| {
        let pick = |t: &Text| if zh { t.zh.clone() } else { t.en.clone() };
        let (from_word, to_word) = if zh {
            (from.word_zh().to_owned(), to.word_zh().to_owned())
        } else {
            (from.as_str().to_owned(), to.as_str().to_owned())
        };
        let values = [
            text(from_word),
            text(to_word),
            text(pick(&why)),
            text(pick(&todo)),
            text(messages.hotline.clone()),
        ];
        let roots: Vec<(&str, &serde_json::Value)> = MESSAGE_PLACEHOLDERS
            .iter()
            .copied()
            .zip(values.iter())
            .collect();
        let filled = template.fill(&roots, &|_| None);
        let out = if zh { filled.zh } else { filled.en };
        // An empty `{what_to_do}` leaves two spaces in English; line breaks stay.
        let mut tidy = String::with_capacity(out.len());
        for c in out.trim().chars() {
            if !(c == ' ' && tidy.ends_with(' ')) {
                tidy.push(c);
            }
        }
        tidy
    };
    Text {
        zh: fill(true),
        en: fill(false),
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
        let text = colour_change(&Messages::default(), Color::Green, &red);
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
        let back = colour_change(&Messages::default(), Color::Red, &green);
        assert!(back.en.contains("from red to green") && back.en.contains("No reason"));
        assert!(back.zh.contains("由红码转为绿码"));
        assert!(
            text.zh.contains("请立即联系所在社区") && text.zh.ends_with("咨询请拨打 12320。"),
            "what to do, and whom to call: {}",
            text.zh
        );

        // A region words its own messages in a policy version; a template naming nothing known
        // does not check.
        let mut doc = policy.document().clone();
        doc.messages = Some(Messages {
            colour_change: Text {
                zh: "【杭州健康码】{to}：{why}{what_to_do}热线 {hotline}".into(),
                en: "[Hangzhou] {to}: {why} {what_to_do} Call {hotline}".into(),
            },
            back_to_green: Text {
                zh: "【杭州健康码】已转{to}".into(),
                en: "[Hangzhou] back to {to}".into(),
            },
            hotline: "0571-12345".into(),
        });
        let local = Policy::new(doc.clone()).unwrap_or_else(|e| panic!("{e}"));
        let told = colour_change(&local.messages(), Color::Green, &red);
        assert!(
            told.zh.starts_with("【杭州健康码】红码：您是一名确诊病例")
                && told.zh.ends_with("热线 0571-12345"),
            "{}",
            told.zh
        );
        assert_eq!(
            colour_change(&local.messages(), Color::Red, &green).en,
            "[Hangzhou] back to green"
        );
        if let Some(m) = doc.messages.as_mut() {
            m.back_to_green.zh = "{name}".into();
            m.hotline = String::new();
        }
        let refused = Policy::new(doc).err().map(|e| e.problems.join("; "));
        assert!(
            refused
                .as_deref()
                .is_some_and(|p| p.contains("messages.back_to_green")),
            "{refused:?}"
        );
    }
}
