use super::*;
use proptest::prelude::*;

#[test]
fn one_more_byte_costs_a_word() {
    // The same two forms with a 16-byte inline payload: no niche is left beside it, so
    // the enum grows a tag word. 15 data bytes is the most that keeps 24 bytes.
    #[allow(dead_code)]
    enum Wider {
        Inline { len: u8, data: [u8; INLINE_MAX + 1] },
        Heap(Vec<u8>),
    }
    assert!(size_of::<Wider>() > size_of::<Vec<u8>>());
    assert_eq!(size_of::<StrValue>(), 24);
    assert_eq!(size_of::<Option<StrValue>>(), 24);
}

#[test]
fn boundaries_of_the_inline_form() {
    for len in [0usize, 1, 14, 15] {
        let bytes = vec![b'a'; len];
        let s = StrValue::from_slice(&bytes);
        assert!(s.is_inline(), "{len} bytes should be inline");
        assert_eq!(s.heap_bytes(), 0);
        assert_eq!(s.as_bytes(), &bytes[..]);
        let s = StrValue::from(bytes.clone());
        assert!(s.is_inline());
        assert_eq!(s, bytes);
    }
    for len in [16usize, 17, 100] {
        let bytes = vec![b'b'; len];
        let s = StrValue::from_slice(&bytes);
        assert!(!s.is_inline(), "{len} bytes should be on the heap");
        assert_eq!(s.heap_bytes(), len);
        assert_eq!(s.as_bytes(), &bytes[..]);
        assert_eq!(StrValue::from(bytes.clone()).into_vec(), bytes);
    }
    assert!(StrValue::new().is_empty());
    assert_eq!(StrValue::default(), StrValue::from(&b""[..]));
}

#[test]
fn append_spills_past_the_limit() {
    let mut s = StrValue::from(b"0123456789");
    s.extend_from_slice(b"abcde");
    assert!(s.is_inline());
    assert_eq!(s, *b"0123456789abcde");
    s.extend_from_slice(b"f");
    assert!(!s.is_inline());
    assert_eq!(s, *b"0123456789abcdef");
    s.extend_from_slice(b"g");
    assert_eq!(s.len(), 17);
}

#[test]
fn resize_pads_and_spills() {
    let mut s = StrValue::from(b"ab");
    s.resize(15, 0);
    assert!(s.is_inline());
    assert_eq!(&s[..3], b"ab\0");
    s.resize(3, 0);
    assert_eq!(s, *b"ab\0");
    // Bytes beyond a shrunk length do not come back on a regrow.
    s.resize(5, 7);
    assert_eq!(s, *b"ab\0\x07\x07");
    s.resize(16, 1);
    assert!(!s.is_inline());
    assert_eq!(s.len(), 16);
    assert_eq!(s[15], 1);
}

#[test]
fn in_place_edits_stay_inline() {
    let mut s = StrValue::from(b"hello");
    s[0] = b'j';
    s.as_mut_bytes()[4..].copy_from_slice(b"y");
    assert!(s.is_inline());
    assert_eq!(s, *b"jelly");
}

#[test]
fn set_goes_back_inline() {
    let mut s = StrValue::from_slice(&[b'x'; 40]);
    s.set(b"12");
    assert!(s.is_inline());
    assert_eq!(s, *b"12");
    s.set(&[b'y'; 20]);
    assert!(!s.is_inline());
    // A buffer of about the right size is reused.
    s.set(&[b'z'; 18]);
    assert_eq!(s.heap_bytes(), 20);
    // One far too large is not kept.
    s.set(&[b'z'; 1000]);
    s.set(&[b'w'; 30]);
    assert_eq!(s.heap_bytes(), 30);
    assert_eq!(s, [b'w'; 30]);
    s.clear();
    assert!(s.is_inline() && s.is_empty());
}

#[test]
fn vec_mut_spills_keeping_the_bytes() {
    let mut s = StrValue::from(b"abc");
    s.vec_mut().push(b'd');
    assert!(!s.is_inline());
    assert_eq!(s, *b"abcd");
    let mut h = StrValue::from_slice(&[1; 20]);
    h.vec_mut().truncate(2);
    assert_eq!(h, [1, 1]);
}

/// One edit, applied both to a `StrValue` and to a plain `Vec` model.
#[derive(Debug, Clone)]
enum Op {
    Set(Vec<u8>),
    Append(Vec<u8>),
    Resize(usize, u8),
    Overwrite(usize, Vec<u8>),
    Clear,
    ViaVec(u8),
    CloneIt,
}

fn op() -> impl Strategy<Value = Op> {
    let bytes = prop::collection::vec(any::<u8>(), 0..24);
    prop_oneof![
        bytes.clone().prop_map(Op::Set),
        bytes.clone().prop_map(Op::Append),
        (0usize..40, any::<u8>()).prop_map(|(n, f)| Op::Resize(n, f)),
        (0usize..40, bytes).prop_map(|(at, b)| Op::Overwrite(at, b)),
        Just(Op::Clear),
        any::<u8>().prop_map(Op::ViaVec),
        Just(Op::CloneIt),
    ]
}

proptest! {
    #[test]
    fn behaves_like_a_vec(ops in prop::collection::vec(op(), 0..60)) {
        let mut s = StrValue::new();
        let mut model: Vec<u8> = Vec::new();
        for op in ops {
            match op {
                Op::Set(b) => {
                    s.set(&b);
                    model = b;
                    prop_assert_eq!(s.is_inline(), model.len() <= INLINE_MAX);
                }
                Op::Append(b) => {
                    s.extend_from_slice(&b);
                    model.extend_from_slice(&b);
                }
                Op::Resize(n, f) => {
                    s.resize(n, f);
                    model.resize(n, f);
                }
                Op::Overwrite(at, b) => {
                    // SETRANGE: grow with zeros if needed, then write in place.
                    let end = at + b.len();
                    if s.len() < end {
                        s.resize(end, 0);
                    }
                    s[at..end].copy_from_slice(&b);
                    if model.len() < end {
                        model.resize(end, 0);
                    }
                    model[at..end].copy_from_slice(&b);
                }
                Op::Clear => {
                    s.clear();
                    model.clear();
                }
                Op::ViaVec(b) => {
                    s.vec_mut().push(b);
                    model.push(b);
                    prop_assert!(!s.is_inline());
                }
                Op::CloneIt => s = s.clone(),
            }
            prop_assert_eq!(s.as_bytes(), &model[..]);
            prop_assert_eq!(s.heap_bytes() == 0, s.is_inline());
            if model.len() > INLINE_MAX {
                prop_assert!(!s.is_inline());
            }
        }
        prop_assert_eq!(s.into_vec(), model);
    }
}
