//! Header parsing: never panics; what parses re-serializes to the same bytes; limits hold; the
//! body parser never panics on what follows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox::format::{
    parse_header, serialize_header_body, BodyParser, ContentType, FrameKind, HeaderLimits,
};

fuzz_target!(|data: &[u8]| {
    let limits = HeaderLimits::default();
    if let Ok((header, n)) = parse_header(data, &limits) {
        assert!(n <= data.len());
        assert_eq!(header.serialized_len(), n);
        assert_eq!(header.body_bytes(), &data[..header.body_bytes().len()]);
        assert!(!header.encrypted_data_keys.is_empty());

        // Framed headers are what sealbox writes: serializing the parsed fields (with the
        // context bytes as stored, whatever their order) gives back the same bytes.
        if header.content_type == ContentType::Framed {
            let ec_at = if header.version == 1 { 20 } else { 35 };
            let ec_len = u16::from_be_bytes([data[ec_at], data[ec_at + 1]]) as usize;
            let stored = &data[ec_at + 2..ec_at + 2 + ec_len];
            let again = serialize_header_body(
                header.suite,
                &header.message_id,
                stored,
                &header.encrypted_data_keys,
                header.frame_length,
                header.commitment.as_ref(),
            )
            .expect("a parsed header serializes");
            assert_eq!(again, header.body_bytes());
        }

        // The body parser on whatever follows: frames are within bounds, the state is sound.
        let mut parser = BodyParser::new(&header).with_max_non_framed_length(1 << 20);
        let mut rest = &data[n..];
        let mut frames = 0u32;
        while !parser.is_done() {
            match parser.parse_next(rest) {
                Ok((frame, k)) => {
                    assert!(k <= rest.len());
                    frames += 1;
                    assert_eq!(frame.sequence, frames);
                    match frame.kind {
                        FrameKind::NonFramed => assert!(frame.ciphertext.len() <= 1 << 20),
                        _ => assert!(frame.ciphertext.len() <= header.frame_length as usize),
                    }
                    rest = &rest[k..];
                }
                Err(_) => break,
            }
        }
        if parser.is_done() && !rest.is_empty() {
            assert!(parser.parse_next(rest).is_err());
        }
    }

    // Tight limits are enforced whatever the input says.
    let mut tight = HeaderLimits::default();
    tight.max_header_length = 200;
    tight.max_encrypted_data_keys = Some(1);
    tight.max_frame_length = 1024;
    if let Ok((header, n)) = parse_header(data, &tight) {
        assert!(n <= 200);
        assert_eq!(header.encrypted_data_keys.len(), 1);
        assert!(header.frame_length <= 1024);
    }
});
