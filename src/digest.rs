//! A serde serializer that writes a value's structure as compact bytes to hash: every primitive
//! as tagged little-endian bytes, every string and sequence length-prefixed (a length as a
//! LEB128 varint, which is self-delimiting, so one byte for most), so that two values hash alike
//! exactly when they serialize alike. Several times cheaper than hashing a JSON
//! rendering. The bytes are collected in a buffer and hashed at once (blake3 is fastest on long
//! inputs). Used by the render memo (`render/memo.rs`) and for the fingerprints of lowered
//! entities ([`crate::ir::Fingerprint`]). Does no IO.

use serde::ser::{self, Serialize};

use crate::plan::Hash;

/// The digest of `value`'s serde form.
pub(crate) fn digest<T: Serialize + ?Sized>(value: &T) -> Hash {
    let mut buffer = Vec::new();
    feed(&mut buffer, value);
    Hash::of(&buffer)
}

/// Appends `value`'s serde form to `buffer`.
pub(crate) fn feed<T: Serialize + ?Sized>(buffer: &mut Vec<u8>, value: &T) {
    // Writing to a buffer cannot fail; a value whose `Serialize` fails writes its message.
    if let Err(Never(message)) = value.serialize(Feed(buffer)) {
        buffer.extend_from_slice(message.as_bytes());
    }
}

struct Feed<'a>(&'a mut Vec<u8>);

/// The error of a `Serialize` implementation that failed (none here do).
#[derive(Debug)]
pub(crate) struct Never(String);

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Never(msg.to_string())
    }
}

impl Feed<'_> {
    fn tag(&mut self, tag: u8) {
        self.0.push(tag);
    }

    fn bytes(&mut self, tag: u8, bytes: &[u8]) {
        self.tag(tag);
        self.len(bytes.len());
        self.0.extend_from_slice(bytes);
    }

    /// A length as a LEB128 varint: seven bits a byte, the high bit set on all but the last.
    fn len(&mut self, len: usize) {
        let mut rest = len as u64;
        while rest >= 0x80 {
            self.0.push(rest.to_le_bytes()[0] | 0x80);
            rest >>= 7;
        }
        self.0.push(rest.to_le_bytes()[0]);
    }

    fn reborrow(&mut self) -> Feed<'_> {
        Feed(self.0)
    }
}

macro_rules! number {
    ($($method:ident: $ty:ty = $tag:literal;)*) => {
        $(fn $method(mut self, value: $ty) -> Result<(), Never> {
            self.tag($tag);
            self.0.extend_from_slice(&value.to_le_bytes());
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for Feed<'a> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Feed<'a>;
    type SerializeTuple = Feed<'a>;
    type SerializeTupleStruct = Feed<'a>;
    type SerializeTupleVariant = Feed<'a>;
    type SerializeMap = Feed<'a>;
    type SerializeStruct = Feed<'a>;
    type SerializeStructVariant = Feed<'a>;

    number! {
        serialize_i8: i8 = 1; serialize_i16: i16 = 2; serialize_i32: i32 = 3; serialize_i64: i64 = 4;
        serialize_u8: u8 = 5; serialize_u16: u16 = 6; serialize_u32: u32 = 7; serialize_u64: u64 = 8;
        serialize_f32: f32 = 9; serialize_f64: f64 = 10; serialize_i128: i128 = 11;
        serialize_u128: u128 = 12;
    }

    fn serialize_bool(mut self, value: bool) -> Result<(), Never> {
        self.tag(if value { 13 } else { 14 });
        Ok(())
    }

    fn serialize_char(mut self, value: char) -> Result<(), Never> {
        self.tag(15);
        self.0.extend_from_slice(&u32::from(value).to_le_bytes());
        Ok(())
    }

    fn serialize_str(mut self, value: &str) -> Result<(), Never> {
        self.bytes(16, value.as_bytes());
        Ok(())
    }

    fn serialize_bytes(mut self, value: &[u8]) -> Result<(), Never> {
        self.bytes(17, value);
        Ok(())
    }

    fn serialize_none(mut self) -> Result<(), Never> {
        self.tag(18);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(mut self, value: &T) -> Result<(), Never> {
        self.tag(19);
        value.serialize(self)
    }

    fn serialize_unit(mut self) -> Result<(), Never> {
        self.tag(20);
        Ok(())
    }

    fn serialize_unit_struct(mut self, name: &'static str) -> Result<(), Never> {
        self.bytes(21, name.as_bytes());
        Ok(())
    }

    fn serialize_unit_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Never> {
        self.bytes(22, variant.as_bytes());
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.bytes(23, variant.as_bytes());
        value.serialize(self)
    }

    fn serialize_seq(mut self, len: Option<usize>) -> Result<Feed<'a>, Never> {
        self.tag(24);
        self.len(len.unwrap_or(usize::MAX));
        Ok(self)
    }

    fn serialize_tuple(mut self, len: usize) -> Result<Feed<'a>, Never> {
        self.tag(25);
        self.len(len);
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Feed<'a>, Never> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Feed<'a>, Never> {
        self.bytes(26, variant.as_bytes());
        self.len(len);
        Ok(self)
    }

    fn serialize_map(mut self, len: Option<usize>) -> Result<Feed<'a>, Never> {
        self.tag(27);
        self.len(len.unwrap_or(usize::MAX));
        Ok(self)
    }

    fn serialize_struct(mut self, name: &'static str, len: usize) -> Result<Feed<'a>, Never> {
        self.bytes(28, name.as_bytes());
        self.len(len);
        Ok(self)
    }

    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Feed<'a>, Never> {
        self.bytes(29, variant.as_bytes());
        self.len(len);
        Ok(self)
    }
}

/// The end of every compound: a tag, so that `[a, b], c` and `[a], b, c` differ.
macro_rules! compound {
    ($trait:ident, $method:ident $(, $key:ident)?) => {
        impl ser::$trait for Feed<'_> {
            type Ok = ();
            type Error = Never;

            fn $method<T: Serialize + ?Sized>(&mut self, $($key: &'static str,)? value: &T) -> Result<(), Never> {
                $(self.bytes(30, $key.as_bytes());)?
                value.serialize(self.reborrow())
            }

            fn end(mut self) -> Result<(), Never> {
                self.tag(31);
                Ok(())
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, key);
compound!(SerializeStructVariant, serialize_field, key);

impl ser::SerializeMap for Feed<'_> {
    type Ok = ();
    type Error = Never;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        self.tag(32);
        key.serialize(self.reborrow())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(self.reborrow())
    }

    fn end(mut self) -> Result<(), Never> {
        self.tag(31);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn structure_is_part_of_the_digest() {
        assert_eq!(digest(&vec!["a", "b"]), digest(&vec!["a", "b"]));
        assert_ne!(digest(&vec!["ab"]), digest(&vec!["a", "b"]));
        assert_ne!(
            digest(&(vec!["a", "b"], "c")),
            digest(&(vec!["a"], "b", "c"))
        );
        assert_ne!(digest(&Some(1_u32)), digest(&1_u32));
        assert_ne!(digest(&1_u32), digest(&1_u64));
        assert_ne!(digest(""), digest(&()));
        // Lengths of every varint size, and strings that differ only past a long prefix.
        let long = "x".repeat(300);
        assert_ne!(digest(&(long.as_str(), "")), digest(&(&long[..299], "x")));
        assert_ne!(digest(&vec![0_u8; 127]), digest(&vec![0_u8; 128]));
        assert_ne!(digest(&vec!["a"; 16_384]), digest(&vec!["a"; 16_383]));
    }
}
