//! Kubernetes resource quantities as exact integers.
//!
//! A quantity is held in milli-units (`1` cpu = `1000`, `1Gi` memory = `1073741824000`), the
//! same precision Kubernetes' `MilliValue` uses: fractions below a milli-unit round up, as
//! upstream does. Integer arithmetic keeps scheduling decisions exact and reproducible.

use std::fmt;

/// A parsed resource quantity, in milli-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    millis: i128,
}

/// Why a string is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is empty.
    #[error("quantity is empty")]
    Empty,
    /// The numeric part is malformed.
    #[error("quantity {0:?} has no valid number (expected e.g. 100m, 1.5, 2Gi)")]
    BadNumber(String),
    /// The suffix is not one Kubernetes knows.
    #[error(
        "quantity {input:?} has unknown suffix {suffix:?} (expected one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or an exponent)"
    )]
    BadSuffix {
        /// The whole input.
        input: String,
        /// The unrecognised suffix.
        suffix: String,
    },
    /// The value does not fit the supported range.
    #[error("quantity {0:?} is out of range")]
    OutOfRange(String),
}

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity { millis: 0 };

    /// A quantity of `millis` milli-units.
    pub const fn from_millis(millis: i128) -> Self {
        Quantity { millis }
    }

    /// A quantity of `units` whole units (cores, bytes, pods).
    pub const fn from_units(units: i128) -> Self {
        Quantity {
            millis: units * 1000,
        }
    }

    /// The value in milli-units.
    pub const fn millis(self) -> i128 {
        self.millis
    }

    /// The value in whole units, rounded up (Kubernetes' `Value`).
    pub fn units_ceil(self) -> i128 {
        self.millis.div_euclid(1000) + i128::from(self.millis.rem_euclid(1000) != 0)
    }

    /// Is the quantity negative?
    pub const fn is_negative(self) -> bool {
        self.millis < 0
    }

    /// Parse a Kubernetes quantity string such as `100m`, `1.5Gi`, `2e3` or `+4k`.
    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let (negative, body) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, suffix) = body.split_at(num_end);
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(QuantityError::BadNumber(input.to_string()));
        }
        // digits as an integer and a power of ten: value = digits * 10^exp10 * 2^exp2
        let digits_str = format!("{int_part}{frac_part}");
        let digits_str = digits_str.trim_start_matches('0');
        if digits_str.len() > 30 {
            return Err(QuantityError::OutOfRange(input.to_string()));
        }
        let digits: i128 = if digits_str.is_empty() {
            0
        } else {
            digits_str
                .parse()
                .map_err(|_| QuantityError::BadNumber(input.to_string()))?
        };
        let mut exp10: i32 = -(frac_part.len() as i32);
        let mut exp2: u32 = 0;
        match suffix {
            "" => {}
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            "Ki" => exp2 = 10,
            "Mi" => exp2 = 20,
            "Gi" => exp2 = 30,
            "Ti" => exp2 = 40,
            "Pi" => exp2 = 50,
            "Ei" => exp2 = 60,
            other => {
                let exp = other
                    .strip_prefix(['e', 'E'])
                    .and_then(|e| e.parse::<i32>().ok())
                    .ok_or_else(|| QuantityError::BadSuffix {
                        input: input.to_string(),
                        suffix: other.to_string(),
                    })?;
                if !(-40..=40).contains(&exp) {
                    return Err(QuantityError::OutOfRange(input.to_string()));
                }
                exp10 += exp;
            }
        }
        // to milli-units
        exp10 += 3;
        let overflow = || QuantityError::OutOfRange(input.to_string());
        let mut value = digits.checked_mul(1i128 << exp2).ok_or_else(overflow)?;
        if exp10 >= 0 {
            let factor = 10i128.checked_pow(exp10 as u32).ok_or_else(overflow)?;
            value = value.checked_mul(factor).ok_or_else(overflow)?;
        } else {
            let divisor = 10i128.checked_pow((-exp10) as u32);
            value = match divisor {
                // round up (away from zero), as Kubernetes' MilliValue does
                Some(d) => value / d + i128::from(value % d != 0),
                None => i128::from(value != 0),
            };
        }
        if value > i128::from(i64::MAX) * 1000 {
            return Err(overflow());
        }
        Ok(Quantity {
            millis: if negative { -value } else { value },
        })
    }

    /// Saturating sum.
    pub fn saturating_add(self, other: Quantity) -> Quantity {
        Quantity {
            millis: self.millis.saturating_add(other.millis),
        }
    }

    /// Saturating difference.
    pub fn saturating_sub(self, other: Quantity) -> Quantity {
        Quantity {
            millis: self.millis.saturating_sub(other.millis),
        }
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl fmt::Display for Quantity {
    /// Canonical form: whole units when exact, milli-units (`250m`) otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis % 1000 == 0 {
            write!(f, "{}", self.millis / 1000)
        } else {
            write!(f, "{}m", self.millis)
        }
    }
}

/// A quantity as a person writes it for `resource`: milli-units as `1500m`, whole units
/// plainly, and byte counts of memory and storage with the largest exact binary suffix.
pub fn format_resource(resource: &str, q: Quantity) -> String {
    let m = q.millis();
    if m % 1000 != 0 {
        return format!("{m}m");
    }
    let units = m / 1000;
    let bytes_like =
        matches!(resource, "memory" | "ephemeral-storage") || resource.ends_with("storage");
    if bytes_like && units != 0 {
        for (suffix, size) in [
            ("Ti", 1i128 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            if units % size == 0 {
                return format!("{}{suffix}", units / size);
            }
        }
    }
    units.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> i128 {
        match Quantity::parse(s) {
            Ok(v) => v.millis(),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_every_suffix_family() {
        assert_eq!(q("100m"), 100);
        assert_eq!(q("1"), 1000);
        assert_eq!(q("1.5"), 1500);
        assert_eq!(q(".5"), 500);
        assert_eq!(q("2k"), 2_000_000);
        assert_eq!(q("1Ki"), 1_024_000);
        assert_eq!(q("1Gi"), 1_073_741_824_000);
        assert_eq!(q("1.5Gi"), 1_610_612_736_000);
        assert_eq!(q("1e3"), 1_000_000);
        assert_eq!(q("1E-3"), 1);
        assert_eq!(q("-2"), -2000);
        assert_eq!(q("+2"), 2000);
        assert_eq!(q("0"), 0);
    }

    #[test]
    fn sub_milli_values_round_up_like_kubernetes() {
        assert_eq!(q("1n"), 1);
        assert_eq!(q("1u"), 1);
        assert_eq!(q("1001u"), 2);
        assert_eq!(q("0.0001"), 1);
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in ["", "abc", "1.2.3", "1Zi", "1x", "--1", "1e", "1e99", "."] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn units_round_up_and_display_is_canonical() {
        assert_eq!(Quantity::from_millis(1500).units_ceil(), 2);
        assert_eq!(Quantity::from_millis(2000).units_ceil(), 2);
        assert_eq!(Quantity::from_millis(250).to_string(), "250m");
        assert_eq!(Quantity::from_units(4).to_string(), "4");
    }
}
