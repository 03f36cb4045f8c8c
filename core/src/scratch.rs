//! argon2's 19 MiB working block, mapped fresh for each verify and unmapped
//! right after. With the heap, glibc keeps raising its mmap threshold and a
//! long-lived host (Dovecot's auth worker) grows to ~140 MiB; an anonymous
//! mapping returns every page to the kernel, which also means no copy of the
//! block outlives the verify. Transparent huge pages, where the kernel has
//! them, keep the page-fault cost of a fresh mapping small.
#![allow(unsafe_code)]

use crate::hashing::Argon2Memory;
use argon2::Block as Argon2Block;
use memmap2::MmapMut;

#[derive(Default)]
pub struct MappedMemory {
    map: Option<MmapMut>,
}

impl Argon2Memory for MappedMemory {
    fn blocks(&mut self, count: usize) -> Option<&mut [Argon2Block]> {
        let bytes = count.checked_mul(std::mem::size_of::<Argon2Block>())?;
        let mut map = MmapMut::map_anon(bytes).ok()?;
        // Only a hint: without THP the mapping works the same, a bit slower.
        let _ = map.advise(memmap2::Advice::HugePage);
        let ptr = map.as_mut_ptr();
        if (ptr as usize) % std::mem::align_of::<Argon2Block>() != 0 {
            return None;
        }
        self.map = Some(map);
        // SAFETY: the mapping is page-aligned (checked above against the
        // block's alignment), exactly count blocks long, zero-filled (a valid
        // Block is any bit pattern of u64s), owned by self and not aliased
        // while the returned borrow of self lives.
        Some(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<Argon2Block>(), count) })
    }

    fn finished(&mut self) {
        self.map = None;
    }
}
