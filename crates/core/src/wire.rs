//! [`wire_enum!`]: an enum of the values a service documents for one field, parsed once at the
//! adapter. A value this code does not know is kept verbatim in `Other` (a new value must not
//! make a pass fail, and status shows what the service said); the empty value is the default, as
//! an unset string was.

/// Declares a wire enum: `wire_enum! { /// doc \n Name { /// doc \n Variant = "WIRE", ... } }`.
/// It parses from and renders to the wire spelling, and (de)serialises as that string.
#[macro_export]
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A value this code does not know.
            Other(String),
        }

        impl $name {
            /// Parses the service's spelling.
            #[must_use]
            pub fn parse(s: &str) -> $name {
                match s {
                    $($wire => $name::$variant,)*
                    other => $name::Other(other.to_string()),
                }
            }

            /// The service's spelling.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Other(s) => s,
                }
            }
        }

        /// The empty value, as an unset string was before parsing.
        impl Default for $name {
            fn default() -> $name {
                $name::Other(String::new())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name::parse(s)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::wire_enum! {
        /// A test enum.
        Color {
            /// Red.
            Red = "RED",
        }
    }

    #[test]
    fn known_values_parse_unknown_ones_are_kept_and_both_round_trip() {
        assert_eq!(Color::parse("RED"), Color::Red);
        assert_eq!(Color::parse("BLUE"), Color::Other("BLUE".into()));
        assert_eq!(Color::Other("BLUE".into()).as_str(), "BLUE");
        assert_eq!(Color::default().as_str(), "");
        let json = serde_json::to_string(&Color::Red).unwrap_or_default();
        assert_eq!(json, "\"RED\"");
        assert_eq!(serde_json::from_str::<Color>("\"RED\"").ok(), Some(Color::Red));
    }
}
