use super::*;

const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47];
const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

fn config(sps: &[&[u8]], pps: &[&[u8]], nal_length_size: u8) -> AvcDecoderConfig {
    AvcDecoderConfig {
        profile: 0x42,
        compatibility: 0xc0,
        level: 0x1e,
        nal_length_size,
        sps: sps.iter().map(|s| s.to_vec()).collect(),
        pps: pps.iter().map(|s| s.to_vec()).collect(),
    }
}

fn avcc(nals: &[&[u8]], length_size: u8) -> Vec<u8> {
    let mut v = Vec::new();
    for nal in nals {
        let len = (nal.len() as u32).to_be_bytes();
        v.extend_from_slice(&len[4 - usize::from(length_size)..]);
        v.extend_from_slice(nal);
    }
    v
}

fn ready() -> H264Packetizer {
    let mut p = H264Packetizer::default();
    p.set_config(&config(&[SPS], &[PPS], 4)).unwrap();
    p
}

fn stap_a(nals: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![0x78];
    for nal in nals {
        v.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        v.extend_from_slice(nal);
    }
    v
}

#[test]
fn needs_a_sequence_header() {
    let mut p = H264Packetizer::default();
    assert_eq!(
        p.packetize(&avcc(&[&[0x41, 1]], 4)),
        Err(H264Error::MissingConfig)
    );
    assert!(!p.has_parameter_sets());
}

#[test]
fn single_nal_unit_packets() {
    let mut p = ready();
    let out = p.packetize(&avcc(&[&[0x41, 1, 2, 3]], 4)).unwrap();
    assert_eq!(
        out.payloads,
        vec![RtpPayload {
            payload: vec![0x41, 1, 2, 3],
            marker: true
        }]
    );
    assert!(!out.idr && !out.parameter_sets_sent);
    // SEI + slice: two packets, the marker on the second only.
    let out = p.packetize(&avcc(&[&[0x06, 5, 1], &[0x41, 9]], 4)).unwrap();
    assert_eq!(out.payloads.len(), 2);
    assert!(!out.payloads[0].marker && out.payloads[1].marker);
}

#[test]
fn drops_delimiters_filler_and_unspecified_types() {
    let mut p = ready();
    let au = avcc(
        &[
            &[0x09, 0xf0],
            &[0x41, 7],
            &[0x0c, 0xff, 0xff],
            &[],
            &[0x18, 1],
            &[0x00],
        ],
        4,
    );
    let out = p.packetize(&au).unwrap();
    assert_eq!(out.dropped_nals, 5);
    assert_eq!(out.payloads.len(), 1);
    assert_eq!(out.payloads[0].payload, vec![0x41, 7]);
    // Nothing left: no payloads at all.
    let out = p.packetize(&avcc(&[&[0x09, 0xf0]], 4)).unwrap();
    assert!(out.payloads.is_empty());
    assert!(p.packetize(&[]).unwrap().payloads.is_empty());
}

#[test]
fn stap_a_before_every_idr() {
    let mut p = ready();
    for _ in 0..2 {
        let out = p
            .packetize(&avcc(&[&[0x09, 0x10], &[0x65, 0x88, 1]], 4))
            .unwrap();
        assert!(out.idr && out.parameter_sets_sent);
        assert_eq!(
            out.payloads,
            vec![
                RtpPayload {
                    payload: stap_a(&[SPS, PPS]),
                    marker: false
                },
                RtpPayload {
                    payload: vec![0x65, 0x88, 1],
                    marker: true
                },
            ]
        );
        p.packetize(&avcc(&[&[0x41, 1]], 4)).unwrap();
    }
}

#[test]
fn in_band_parameter_sets_replace_the_cache_and_are_not_doubled() {
    let mut p = ready();
    let sps2: &[u8] = &[0x67, 0x4d, 0x40, 0x1f, 0xd9, 0x11];
    let pps1: &[u8] = &[0x68, 0x4e, 0x01]; // pic_parameter_set_id 1
    let out = p
        .packetize(&avcc(&[sps2, PPS, pps1, &[0x06, 1], &[0x65, 2]], 4))
        .unwrap();
    let payloads: Vec<&[u8]> = out.payloads.iter().map(|p| p.payload.as_slice()).collect();
    assert_eq!(
        payloads,
        vec![&stap_a(&[sps2, PPS, pps1])[..], &[0x06, 1], &[0x65, 2]]
    );
    // The next IDR, without in-band sets, gets the updated cache.
    let out = p.packetize(&avcc(&[&[0x65, 3]], 4)).unwrap();
    assert_eq!(out.payloads[0].payload, stap_a(&[sps2, PPS, pps1]));
    // In-band sets in a non-IDR access unit are sent where they are.
    let out = p.packetize(&avcc(&[sps2, &[0x41, 3]], 4)).unwrap();
    assert_eq!(out.payloads[0].payload, sps2);
    // A new sequence header replaces everything.
    p.set_config(&config(&[SPS], &[PPS], 4)).unwrap();
    let out = p.packetize(&avcc(&[&[0x65, 3]], 4)).unwrap();
    assert_eq!(out.payloads[0].payload, stap_a(&[SPS, PPS]));
}

#[test]
fn fu_a_fragments() {
    let mut p = ready();
    let mut nal = vec![0x65];
    nal.extend((0..2999u32).map(|i| i as u8));
    let out = p.packetize(&avcc(&[&nal], 4)).unwrap();
    let frags = &out.payloads[1..];
    assert_eq!(frags.len(), 3);
    let sizes: Vec<usize> = frags.iter().map(|f| f.payload.len()).collect();
    assert_eq!(sizes, vec![1200, 1200, 2 + 2999 - 2 * 1198]);
    assert_eq!(frags[0].payload[..2], [0x7c, 0x85]);
    assert_eq!(frags[1].payload[..2], [0x7c, 0x05]);
    assert_eq!(frags[2].payload[..2], [0x7c, 0x45]);
    let markers: Vec<bool> = frags.iter().map(|f| f.marker).collect();
    assert_eq!(markers, vec![false, false, true]);
    let body: Vec<u8> = frags.iter().flat_map(|f| f.payload[2..].to_vec()).collect();
    assert_eq!(body, nal[1..]);
    // NRI and F are copied from the NAL header.
    let mut low = vec![0x81u8];
    low.extend([0u8; 1300]);
    let out = p.packetize(&avcc(&[&low], 4)).unwrap();
    assert_eq!(out.payloads[0].payload[..2], [0x9c, 0x81]);
}

#[test]
fn budget_edges() {
    let mut p = H264Packetizer::new(100);
    p.set_config(&config(&[SPS], &[PPS], 4)).unwrap();
    let exact = [0x41u8; 100];
    assert_eq!(p.packetize(&avcc(&[&exact], 4)).unwrap().payloads.len(), 1);
    let over = [0x41u8; 101];
    let out = p.packetize(&avcc(&[&over], 4)).unwrap();
    assert_eq!(out.payloads.len(), 2);
    assert!(out.payloads.iter().all(|x| x.payload.len() <= 100));
    assert_eq!(H264Packetizer::new(0).max_payload(), MIN_MAX_PAYLOAD);
    assert_eq!(H264Packetizer::new(1 << 20).max_payload(), MAX_MAX_PAYLOAD);
}

#[test]
fn parameter_sets_too_big_for_one_stap_a_go_alone() {
    let mut big_sps = SPS.to_vec();
    big_sps.resize(40, 0x11);
    let mut p = H264Packetizer::new(40);
    p.set_config(&config(&[&big_sps], &[PPS], 4)).unwrap();
    let out = p.packetize(&avcc(&[&[0x65, 1]], 4)).unwrap();
    let payloads: Vec<&[u8]> = out.payloads.iter().map(|p| p.payload.as_slice()).collect();
    assert_eq!(payloads, vec![&big_sps[..], PPS, &[0x65, 1]]);
    assert!(out.payloads.iter().all(|x| x.payload.len() <= 40));
}

#[test]
fn idr_without_parameter_sets() {
    let mut p = H264Packetizer::default();
    p.set_config(&config(&[], &[], 4)).unwrap();
    let out = p.packetize(&avcc(&[&[0x65, 1]], 4)).unwrap();
    assert!(out.idr && !out.parameter_sets_sent);
    assert_eq!(out.payloads.len(), 1);
}

#[test]
fn keyframe_requests_wait_for_the_next_idr() {
    let mut p = ready();
    p.request_keyframe();
    assert!(p.keyframe_requested());
    let out = p.packetize(&avcc(&[&[0x41, 1]], 4)).unwrap();
    assert!(!out.answered_keyframe_request);
    assert!(p.keyframe_requested());
    let out = p.packetize(&avcc(&[&[0x65, 1]], 4)).unwrap();
    assert!(out.answered_keyframe_request && out.parameter_sets_sent);
    assert!(!p.keyframe_requested());
    let out = p.packetize(&avcc(&[&[0x65, 1]], 4)).unwrap();
    assert!(!out.answered_keyframe_request);
}

#[test]
fn other_length_sizes() {
    for size in 1..=4u8 {
        let mut p = H264Packetizer::default();
        p.set_config(&config(&[SPS], &[PPS], size)).unwrap();
        let out = p.packetize(&avcc(&[&[0x41, 1], &[0x41, 2]], size)).unwrap();
        assert_eq!(out.payloads.len(), 2, "length size {size}");
    }
    let mut p = H264Packetizer::default();
    assert_eq!(
        p.set_config(&config(&[SPS], &[PPS], 0)),
        Err(H264Error::BadLengthSize(0))
    );
    assert_eq!(split_avcc(&[1], 5), Err(H264Error::BadLengthSize(5)));
}

#[test]
fn errors_leave_the_packetizer_unchanged() {
    let mut p = ready();
    assert_eq!(
        p.packetize(&[0, 0, 1, 0x2c, 0x41]),
        Err(H264Error::Overrun {
            offset: 0,
            length: 300,
            remaining: 1
        })
    );
    assert_eq!(
        p.packetize(&[0, 0, 0, 1, 0x41, 0, 0]),
        Err(H264Error::Overrun {
            offset: 5,
            length: 0,
            remaining: 2
        })
    );
    // A good in-band SPS followed by an unreadable PPS: nothing is cached.
    let sps2: &[u8] = &[0x67, 0x4d, 0x40, 0x1f, 0xd9];
    p.request_keyframe();
    assert_eq!(
        p.packetize(&avcc(&[sps2, &[0x68, 0x00], &[0x65, 1]], 4)),
        Err(H264Error::BadParameterSet("PPS"))
    );
    let out = p.packetize(&avcc(&[&[0x65, 1]], 4)).unwrap();
    assert_eq!(out.payloads[0].payload, stap_a(&[SPS, PPS]));
    assert!(out.answered_keyframe_request);
}

#[test]
fn parameter_set_ids() {
    assert_eq!(sps_id(SPS), Ok(0));
    // ue(v) "00100" = 3 after profile, constraints and level.
    assert_eq!(sps_id(&[0x67, 0x42, 0, 0x1e, 0b0010_0000]), Ok(3));
    // An emulation prevention byte inside the first fields.
    assert_eq!(sps_id(&[0x67, 0x42, 0, 0, 3, 0x80]), Ok(0));
    assert_eq!(
        sps_id(&[0x67, 0x42]),
        Err(H264Error::BadParameterSet("SPS"))
    );
    // id 32 is out of range: ue "00000100001".
    assert_eq!(
        sps_id(&[0x67, 0x42, 0, 0x1e, 0b0000_0100, 0b0010_0000]),
        Err(H264Error::BadParameterSet("SPS"))
    );
    assert_eq!(pps_id(PPS), Ok(0));
    assert_eq!(pps_id(&[0x68, 0b0100_0000]), Ok(1));
    assert_eq!(pps_id(&[0x68]), Err(H264Error::BadParameterSet("PPS")));
    assert_eq!(nal_unit_type(&[]), 0);
    assert_eq!(nal_unit_type(&[0x65]), nal_type::IDR);
}
