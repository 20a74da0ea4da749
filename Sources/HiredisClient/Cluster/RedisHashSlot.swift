/// Redis Cluster's key → slot function: CRC16 (XMODEM) of the key, or of its hash tag, modulo
/// 16384. The hash tag is the part between the first `{` and the first `}` after it, when that
/// part is not empty: `bo:{c:1}:waiting` and `bo:{c:1}:seq` land in one slot, so one concert's
/// keys stay together and its scripts run on one node. (Redis Cluster specification, "Keys
/// distribution model".)
public enum RedisHashSlot {
    public static let count = 16384

    public static func of(_ key: RedisArgument) -> Int {
        Self.of(key.bytes)
    }

    public static func of(_ key: String) -> Int {
        Self.of(Array(key.utf8))
    }

    public static func of(_ key: [UInt8]) -> Int {
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
            close > open + 1
        {
            hashed = key[(open + 1)..<close]
        }
        return Int(Self.crc16(hashed)) & (Self.count - 1)
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ Self.table[Int((crc >> 8) ^ UInt16(byte))]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
