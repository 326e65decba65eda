//! The fields of a serializable struct, one at a time: a serde serializer that walks a struct's
//! `serialize_struct` and hands each field's name and value to a visitor, without serializing any
//! value itself. The base context uses it to turn one field of `ir::Project` into a template
//! value, or hash it, with no hand-kept table of field names (see [`super::base`]). Knows nothing
//! about templates.

use serde::ser::{self, Impossible, Serialize};

/// What is done with each field of a struct.
pub(super) trait Visitor {
    /// Called once per serialized field, in declaration order (fields serde skips are not seen).
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T);
}

/// What is done with the value of the one wanted field: it is handed over by reference, as the
/// type it has, so that it can go through any serializer.
pub(super) trait Take {
    type Output;
    fn take<T: Serialize + ?Sized>(self, value: &T) -> Self::Output;
}

/// The name of every field `value` serializes, sorted; empty when it is not a struct.
pub(super) fn names<T: Serialize + ?Sized>(value: &T) -> Vec<&'static str> {
    struct Names(Vec<&'static str>);
    impl Visitor for Names {
        fn field<V: Serialize + ?Sized>(&mut self, name: &'static str, _value: &V) {
            self.0.push(name);
        }
    }
    let mut names = Names(Vec::new());
    walk(value, &mut names);
    names.0.sort_unstable();
    names.0
}

/// The field `name` of `value` handed to `take`; `None` when `value` does not serialize a field
/// of that name (or is not a struct).
pub(super) fn field<T: Serialize + ?Sized, F: Take>(
    value: &T,
    name: &str,
    take: F,
) -> Option<F::Output> {
    struct One<'n, F: Take> {
        name: &'n str,
        take: Option<F>,
        output: Option<F::Output>,
    }
    impl<F: Take> Visitor for One<'_, F> {
        fn field<V: Serialize + ?Sized>(&mut self, name: &'static str, value: &V) {
            if name == self.name
                && let Some(take) = self.take.take()
            {
                self.output = Some(take.take(value));
            }
        }
    }
    let mut one = One {
        name,
        take: Some(take),
        output: None,
    };
    walk(value, &mut one);
    one.output
}

/// Hands every field of `value` to `visitor`. A value that is not a struct has no fields: its
/// serializer stops at the first thing that is not one, and nothing is visited.
fn walk<T: Serialize + ?Sized, V: Visitor>(value: &T, visitor: &mut V) {
    // The only error is "not a struct", which is the empty case; nothing to report.
    let _ = value.serialize(Walk(visitor));
}

struct Walk<'v, V>(&'v mut V);

/// Why a value has no fields to walk.
#[derive(Debug)]
struct NotAStruct;

impl std::fmt::Display for NotAStruct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a struct")
    }
}

impl std::error::Error for NotAStruct {}

impl ser::Error for NotAStruct {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        NotAStruct
    }
}

macro_rules! not_a_struct {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), NotAStruct> {
            Err(NotAStruct)
        })*
    };
}

impl<'v, V: Visitor> ser::Serializer for Walk<'v, V> {
    type Ok = ();
    type Error = NotAStruct;
    type SerializeSeq = Impossible<(), NotAStruct>;
    type SerializeTuple = Impossible<(), NotAStruct>;
    type SerializeTupleStruct = Impossible<(), NotAStruct>;
    type SerializeTupleVariant = Impossible<(), NotAStruct>;
    type SerializeMap = Impossible<(), NotAStruct>;
    type SerializeStruct = Walk<'v, V>;
    type SerializeStructVariant = Impossible<(), NotAStruct>;

    not_a_struct! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32);
        serialize_u64(u64); serialize_f32(f32); serialize_f64(f64); serialize_char(char);
        serialize_str(&str); serialize_bytes(&[u8]); serialize_none(); serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), NotAStruct> {
        // A wrapper serializes as what it wraps.
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, NotAStruct> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, NotAStruct> {
        Err(NotAStruct)
    }
}

impl<V: Visitor> ser::SerializeStruct for Walk<'_, V> {
    type Ok = ();
    type Error = NotAStruct;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), NotAStruct> {
        self.0.field(name, value);
        Ok(())
    }

    fn end(self) -> Result<(), NotAStruct> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::{Take, field, names};

    #[derive(Serialize)]
    struct Sample {
        zeta: u32,
        alpha: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        maybe: Option<u32>,
    }

    struct Json;
    impl Take for Json {
        type Output = String;
        fn take<T: Serialize + ?Sized>(self, value: &T) -> String {
            serde_json::to_string(value).unwrap_or_default()
        }
    }

    fn check(value: &Sample, name: &str, expect: Option<&str>) {
        assert_eq!(
            field(value, name, Json).as_deref(),
            expect,
            "field `{name}`"
        );
    }

    #[test]
    fn one_field_is_taken_as_it_serializes() {
        let sample = Sample {
            zeta: 7,
            alpha: "a",
            maybe: None,
        };
        assert_eq!(names(&sample), ["alpha", "zeta"]);
        check(&sample, "zeta", Some("7"));
        check(&sample, "alpha", Some("\"a\""));
        check(&sample, "maybe", None);
        check(&sample, "nothing", None);
        let sample = Sample {
            maybe: Some(1),
            ..sample
        };
        assert_eq!(names(&sample), ["alpha", "maybe", "zeta"]);
        check(&sample, "maybe", Some("1"));
        assert!(names(&[1, 2]).is_empty(), "a sequence has no fields");
        assert_eq!(field(&3_u8, "x", Json), None);
    }
}
