//! Substitution during deserialization: [`parse`] deserializes every document of a file
//! through a wrapper around serde-saphyr's deserializer that hands each string value to its
//! visitor with the variables substituted ([`super::substitute`]).
//!
//! The wrapper forwards everything else unchanged, including the newtype-struct protocol by
//! which serde-saphyr's `Spanned<T>` learns its position, so positions stay the original
//! file's. serde-saphyr deserializes several documents only into a `T: Deserialize` (no seed),
//! so the values reach [`Substituted`] through a thread-local set for the duration of one
//! [`parse`] call.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};

use super::super::error::ConfigError;
use super::super::yaml;
use super::{Values, substitute};

/// How the documents of one parse are substituted.
struct Scope {
    values: Values,
    /// Each document's name, for `${scenario.name}`.
    names: Vec<Option<String>>,
    /// Deserialize only this document; the others are skipped (`None`).
    only: Option<usize>,
    /// The next document's index.
    next: usize,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// A document deserialized with its strings substituted per the current [`parse`] call;
/// `None` when that call skips it.
pub(crate) struct Substituted<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Substituted<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let taken = SCOPE.with(|s| {
            let mut s = s.borrow_mut();
            let scope = s.as_mut()?;
            let index = scope.next;
            scope.next += 1;
            let skip = scope.only.is_some_and(|only| only != index);
            let name = scope.names.get(index).cloned().flatten();
            Some((skip, Rc::new((scope.values.clone(), name))))
        });
        match taken {
            Some((true, _)) => {
                de::IgnoredAny::deserialize(deserializer)?;
                Ok(Self(None))
            }
            Some((false, vars)) => T::deserialize(De {
                inner: deserializer,
                vars,
            })
            .map(|v| Self(Some(v))),
            None => T::deserialize(deserializer).map(|v| Self(Some(v))),
        }
    }
}

/// Deserializes every document of `src` as `T`, substituting `values` (and each document's
/// name from `names`) into every string; with `only`, just that document (the others are
/// `None`).
pub(crate) fn parse<T: de::DeserializeOwned>(
    src: &str,
    path: &Path,
    values: &Values,
    names: Vec<Option<String>>,
    only: Option<usize>,
) -> Result<Vec<Option<T>>, ConfigError> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SCOPE.with(|s| s.borrow_mut().take());
        }
    }
    SCOPE.with(|s| {
        *s.borrow_mut() = Some(Scope {
            values: values.clone(),
            names,
            only,
            next: 0,
        })
    });
    let _reset = Reset;
    let docs: Vec<Substituted<T>> = yaml::parse_all(src, path)?;
    Ok(docs.into_iter().map(|d| d.0).collect())
}

type Vars = Rc<(Values, Option<String>)>;

fn apply(vars: &Vars, s: &str) -> Option<String> {
    substitute(s, &vars.0, vars.1.as_deref())
}

/// A deserializer that substitutes the strings it hands out.
struct De<D> {
    inner: D,
    vars: Vars,
}

struct Vis<V> {
    inner: V,
    vars: Vars,
}

struct Seed<S> {
    inner: S,
    vars: Vars,
}

struct Access<A> {
    inner: A,
    vars: Vars,
}

impl<D> De<D> {
    fn visitor<V>(&self, inner: V) -> Vis<V> {
        Vis {
            inner,
            vars: self.vars.clone(),
        }
    }
}

macro_rules! forward {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                let visitor = self.visitor(visitor);
                self.inner.$method(visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for De<D> {
    type Error = D::Error;

    forward!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! pass {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Vis<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    pass!(
        visit_bool: bool,
        visit_i8: i8,
        visit_i16: i16,
        visit_i32: i32,
        visit_i64: i64,
        visit_i128: i128,
        visit_u8: u8,
        visit_u16: u16,
        visit_u32: u32,
        visit_u64: u64,
        visit_u128: u128,
        visit_f32: f32,
        visit_f64: f64,
        visit_char: char,
        visit_bytes: &[u8],
        visit_borrowed_bytes: &'de [u8],
        visit_byte_buf: Vec<u8>,
    );

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match apply(&self.vars, v) {
            Some(s) => self.inner.visit_string(s),
            None => self.inner.visit_str(v),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        match apply(&self.vars, v) {
            Some(s) => self.inner.visit_string(s),
            None => self.inner.visit_borrowed_str(v),
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        match apply(&self.vars, &v) {
            Some(s) => self.inner.visit_string(s),
            None => self.inner.visit_string(v),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(De {
            inner: d,
            vars: self.vars,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(De {
            inner: d,
            vars: self.vars,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(Access {
            inner: seq,
            vars: self.vars,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(Access {
            inner: map,
            vars: self.vars,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(Access {
            inner: data,
            vars: self.vars,
        })
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.deserialize(De {
            inner: d,
            vars: self.vars,
        })
    }
}

impl<A> Access<A> {
    fn seed<S>(&self, inner: S) -> Seed<S> {
        Seed {
            inner,
            vars: self.vars.clone(),
        }
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Access<A> {
    type Error = A::Error;
    type Variant = Access<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let seed = self.seed(seed);
        let vars = self.vars;
        self.inner
            .variant_seed(seed)
            .map(|(value, inner)| (value, Access { inner, vars }))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Access<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = Vis {
            inner: visitor,
            vars: self.vars,
        };
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = Vis {
            inner: visitor,
            vars: self.vars,
        };
        self.inner.struct_variant(fields, visitor)
    }
}
