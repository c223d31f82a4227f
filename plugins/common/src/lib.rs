//! Helpers the three core plugins share: finding the customer a question is
//! about (by account code or by name, with helpful answers when there is
//! none or more than one), money formatting, and periods such as
//! "last month" resolved against today's date.

mod customer;
mod period;

pub use customer::{
    Customer, CustomerLookup, CustomerQueries, find_customer, name_pattern, require_customer,
    without_title,
};
pub use period::{Period, resolve_period};

/// Formats cents as dollars: `9999` → `$99.99`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}

/// Cents as a JSON number of dollars: `9999` → `99.99`.
pub fn amount(cents: i64) -> serde_json::Value {
    // Two decimals exactly: go through the decimal string.
    let text = format!(
        "{}{}.{:02}",
        if cents < 0 { "-" } else { "" },
        cents.unsigned_abs() / 100,
        cents.unsigned_abs() % 100
    );
    text.parse::<f64>()
        .map(serde_json::Value::from)
        .unwrap_or(serde_json::Value::Null)
}

/// Parses an amount typed in dollars (`100`, `99.5`) into cents.
pub fn parse_cents(text: &str) -> Option<i64> {
    let value: f64 = text
        .trim()
        .trim_start_matches('$')
        .replace(',', "")
        .parse()
        .ok()?;
    if !value.is_finite() || value.abs() > 1e12 {
        return None;
    }
    Some((value * 100.0).round() as i64)
}

/// "1 invoice", "3 invoices".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats() {
        assert_eq!(money(9999), "$99.99");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(-150), "-$1.50");
        assert_eq!(amount(9999), serde_json::json!(99.99));
        assert_eq!(parse_cents("$100"), Some(10000));
        assert_eq!(parse_cents("1,250.5"), Some(125050));
        assert_eq!(parse_cents("lots"), None);
    }

    #[test]
    fn names_are_looked_up_without_a_title() {
        assert_eq!(without_title("Mrs. Olga Petrenko"), "Olga Petrenko");
        assert_eq!(without_title(" dr Rajesh Iyer "), "Rajesh Iyer");
        assert_eq!(without_title("Prof. Okafor"), "Okafor");
        assert_eq!(without_title("Garcia Logistics"), "Garcia Logistics");
        assert_eq!(
            without_title("Drew Barry"),
            "Drew Barry",
            "a name starting like a title"
        );
        assert_eq!(without_title("Mr."), "Mr.", "a title alone stays");
        assert_eq!(name_pattern("Ms Lena Novak"), "%lena novak%");
    }
}
