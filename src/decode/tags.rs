//! The element names the decoder cares about, as one small enum.
//!
//! Owns the mapping from raw element-name bytes to [`Tag`], done once per
//! start tag so the rest of the decoder compares bytes, never strings. It must
//! never allocate: unknown names are [`Tag::Other`] and cost one failed match.

/// An element name the decoder knows, or `Other`. Some variants are never
/// produced by [`Tag::of`] but assigned from context by the scanner (an `item`
/// means different things under a list, a polygon or an alarm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Other,
    // roots
    Config,
    DeviceInfoRoot,
    // envelope
    MessageType,
    SmartType,
    CurrentTime,
    DataTime,
    Status,
    // identity
    DeviceInfo,
    DeviceName,
    DeviceNo,
    Sn,
    Mac,
    MacAddress,
    Ip,
    IpAddress,
    ChannelId,
    // sections and lists
    Traject,
    Perimeter,
    PerInfo,
    Tripwire,
    TripInfo,
    ListInfo,
    EventInfo,
    TargetListInfo,
    LicensePlateListInfo,
    FaceListInfo,
    AlarmStatusInfo,
    Vsd,
    /// The camera's capability list (`openAlramObj`, `targetType` enums): never used.
    Types,
    Item,
    /// `item` directly under one of the lists above: one target or event.
    ListItem,
    /// `item` of an IPC `boundary` polygon or an NVR `pointGroup`.
    PointItem,
    /// An element directly under `alarmStatusInfo`, whatever its name.
    Alarm,
    /// NVR `<perimeterAlarm><item id="1">`.
    AlarmItem,
    // per item
    TargetId,
    EventId,
    TargetType,
    Rect,
    X1,
    Y1,
    X2,
    Y2,
    Boundary,
    PointGroup,
    Point,
    X,
    Y,
    Line,
    DirectionLine,
    StartPoint,
    EndPoint,
    // images
    SourceDataInfo,
    TargetImageData,
    SourceBase64Length,
    SourceBase64Data,
    TargetBase64Length,
    TargetBase64Data,
    // plates
    PlateNumber,
    VehicleListType,
    PlateConfidence,
    VehicleDirect,
    CarAttr,
    CarAttribute,
    CarType,
    Type,
    Color,
    Brand,
    Model,
    LicensePlateAttribute,
    LicensePlateNumber,
    LicensePlateMatchInfo,
    GroupName,
    CarOwner,
    // faces
    Age,
    Sex,
    Glasses,
    Mask,
}

impl Tag {
    /// Both dialects' spellings map to one tag (`SN`/`sn`, `DeviceName`/`deviceName`).
    #[inline]
    pub(crate) fn of(name: &[u8]) -> Tag {
        // Length first: most names are rejected or found by one comparison
        // instead of walking every arm (a `match` on byte strings does that).
        match name.len() {
            1 => match name {
                b"x" => Tag::X,
                b"y" => Tag::Y,
                _ => Tag::Other,
            },
            2 => match name {
                b"x1" => Tag::X1,
                b"y1" => Tag::Y1,
                b"x2" => Tag::X2,
                b"y2" => Tag::Y2,
                b"sn" => Tag::Sn,
                b"SN" => Tag::Sn,
                b"ip" => Tag::Ip,
                _ => Tag::Other,
            },
            3 => match name {
                b"mac" => Tag::Mac,
                b"vsd" => Tag::Vsd,
                b"age" => Tag::Age,
                b"sex" => Tag::Sex,
                _ => Tag::Other,
            },
            4 => match name {
                b"item" => Tag::Item,
                b"rect" => Tag::Rect,
                b"line" => Tag::Line,
                b"type" => Tag::Type,
                b"mask" => Tag::Mask,
                _ => Tag::Other,
            },
            5 => match name {
                b"point" => Tag::Point,
                b"types" => Tag::Types,
                b"color" => Tag::Color,
                b"brand" => Tag::Brand,
                b"model" => Tag::Model,
                _ => Tag::Other,
            },
            6 => match name {
                b"status" => Tag::Status,
                b"config" => Tag::Config,
                _ => Tag::Other,
            },
            7 => match name {
                b"eventId" => Tag::EventId,
                b"traject" => Tag::Traject,
                b"perInfo" => Tag::PerInfo,
                b"carAttr" => Tag::CarAttr,
                b"carType" => Tag::CarType,
                b"glasses" => Tag::Glasses,
                _ => Tag::Other,
            },
            8 => match name {
                b"targetId" => Tag::TargetId,
                b"dataTime" => Tag::DataTime,
                b"tripwire" => Tag::Tripwire,
                b"tripInfo" => Tag::TripInfo,
                b"listInfo" => Tag::ListInfo,
                b"boundary" => Tag::Boundary,
                b"endPoint" => Tag::EndPoint,
                b"carOwner" => Tag::CarOwner,
                _ => Tag::Other,
            },
            9 => match name {
                b"smartType" => Tag::SmartType,
                b"deviceNo." => Tag::DeviceNo,
                b"DeviceNo." => Tag::DeviceNo,
                b"ipAddress" => Tag::IpAddress,
                b"IpAddress" => Tag::IpAddress,
                b"channelId" => Tag::ChannelId,
                b"perimeter" => Tag::Perimeter,
                b"eventInfo" => Tag::EventInfo,
                b"groupName" => Tag::GroupName,
                _ => Tag::Other,
            },
            10 => match name {
                b"targetType" => Tag::TargetType,
                b"DeviceInfo" => Tag::DeviceInfoRoot,
                b"deviceInfo" => Tag::DeviceInfo,
                b"deviceName" => Tag::DeviceName,
                b"DeviceName" => Tag::DeviceName,
                b"macAddress" => Tag::MacAddress,
                b"MacAddress" => Tag::MacAddress,
                b"pointGroup" => Tag::PointGroup,
                b"startPoint" => Tag::StartPoint,
                _ => Tag::Other,
            },
            11 => match name {
                b"messageType" => Tag::MessageType,
                b"currentTime" => Tag::CurrentTime,
                b"plateNumber" => Tag::PlateNumber,
                _ => Tag::Other,
            },
            12 => match name {
                b"faceListInfo" => Tag::FaceListInfo,
                b"carAttribute" => Tag::CarAttribute,
                _ => Tag::Other,
            },
            13 => match name {
                b"directionLine" => Tag::DirectionLine,
                b"vehicleDirect" => Tag::VehicleDirect,
                _ => Tag::Other,
            },
            14 => match name {
                b"targetListInfo" => Tag::TargetListInfo,
                b"sourceDataInfo" => Tag::SourceDataInfo,
                _ => Tag::Other,
            },
            15 => match name {
                b"alarmStatusInfo" => Tag::AlarmStatusInfo,
                b"targetImageData" => Tag::TargetImageData,
                b"vehicleListType" => Tag::VehicleListType,
                b"PlateConfidence" => Tag::PlateConfidence,
                b"plateConfidence" => Tag::PlateConfidence,
                _ => Tag::Other,
            },
            16 => match name {
                b"sourceBase64Data" => Tag::SourceBase64Data,
                b"targetBase64Data" => Tag::TargetBase64Data,
                _ => Tag::Other,
            },
            18 => match name {
                b"sourceBase64Length" => Tag::SourceBase64Length,
                b"targetBase64Length" => Tag::TargetBase64Length,
                b"licensePlateNumber" => Tag::LicensePlateNumber,
                _ => Tag::Other,
            },
            20 => match name {
                b"licensePlateListInfo" => Tag::LicensePlateListInfo,
                _ => Tag::Other,
            },
            21 => match name {
                b"licensePlateAttribute" => Tag::LicensePlateAttribute,
                b"licensePlateMatchInfo" => Tag::LicensePlateMatchInfo,
                _ => Tag::Other,
            },
            _ => Tag::Other,
        }
    }

    /// Elements whose text the decoder reads and which normally hold nothing
    /// but that text: candidates for `scan`'s leaf fast path.
    #[inline]
    pub(crate) fn is_leaf(self) -> bool {
        matches!(
            self,
            Tag::MessageType
                | Tag::SmartType
                | Tag::CurrentTime
                | Tag::DataTime
                | Tag::Status
                | Tag::DeviceName
                | Tag::DeviceNo
                | Tag::Sn
                | Tag::Mac
                | Tag::MacAddress
                | Tag::Ip
                | Tag::IpAddress
                | Tag::ChannelId
                | Tag::TargetId
                | Tag::EventId
                | Tag::TargetType
                | Tag::X1
                | Tag::Y1
                | Tag::X2
                | Tag::Y2
                | Tag::X
                | Tag::Y
                | Tag::SourceBase64Length
                | Tag::SourceBase64Data
                | Tag::TargetBase64Length
                | Tag::TargetBase64Data
                | Tag::PlateNumber
                | Tag::VehicleListType
                | Tag::VehicleDirect
                | Tag::Type
                | Tag::CarType
                | Tag::Color
                | Tag::Brand
                | Tag::Model
                | Tag::LicensePlateNumber
                | Tag::GroupName
                | Tag::CarOwner
                | Tag::Age
                | Tag::Sex
                | Tag::Glasses
                | Tag::Mask
                | Tag::Alarm
                | Tag::AlarmItem
        )
    }

    /// Lists whose `item` children are targets or events.
    #[inline]
    pub(crate) fn is_list(self) -> bool {
        matches!(
            self,
            Tag::Traject
                | Tag::PerInfo
                | Tag::TripInfo
                | Tag::ListInfo
                | Tag::EventInfo
                | Tag::TargetListInfo
                | Tag::LicensePlateListInfo
                | Tag::FaceListInfo
        )
    }
}
