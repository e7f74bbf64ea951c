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
        match name {
            b"x1" => Tag::X1,
            b"y1" => Tag::Y1,
            b"x2" => Tag::X2,
            b"y2" => Tag::Y2,
            b"x" => Tag::X,
            b"y" => Tag::Y,
            b"item" => Tag::Item,
            b"rect" => Tag::Rect,
            b"point" => Tag::Point,
            b"targetId" => Tag::TargetId,
            b"eventId" => Tag::EventId,
            b"targetType" => Tag::TargetType,
            b"status" => Tag::Status,
            b"config" => Tag::Config,
            b"DeviceInfo" => Tag::DeviceInfoRoot,
            b"messageType" => Tag::MessageType,
            b"smartType" => Tag::SmartType,
            b"currentTime" => Tag::CurrentTime,
            b"dataTime" => Tag::DataTime,
            b"deviceInfo" => Tag::DeviceInfo,
            b"deviceName" | b"DeviceName" => Tag::DeviceName,
            b"deviceNo." | b"DeviceNo." => Tag::DeviceNo,
            b"sn" | b"SN" => Tag::Sn,
            b"mac" => Tag::Mac,
            b"macAddress" | b"MacAddress" => Tag::MacAddress,
            b"ip" => Tag::Ip,
            b"ipAddress" | b"IpAddress" => Tag::IpAddress,
            b"channelId" => Tag::ChannelId,
            b"traject" => Tag::Traject,
            b"perimeter" => Tag::Perimeter,
            b"perInfo" => Tag::PerInfo,
            b"tripwire" => Tag::Tripwire,
            b"tripInfo" => Tag::TripInfo,
            b"listInfo" => Tag::ListInfo,
            b"eventInfo" => Tag::EventInfo,
            b"targetListInfo" => Tag::TargetListInfo,
            b"licensePlateListInfo" => Tag::LicensePlateListInfo,
            b"faceListInfo" => Tag::FaceListInfo,
            b"alarmStatusInfo" => Tag::AlarmStatusInfo,
            b"vsd" => Tag::Vsd,
            b"boundary" => Tag::Boundary,
            b"pointGroup" => Tag::PointGroup,
            b"line" => Tag::Line,
            b"directionLine" => Tag::DirectionLine,
            b"startPoint" => Tag::StartPoint,
            b"endPoint" => Tag::EndPoint,
            b"sourceDataInfo" => Tag::SourceDataInfo,
            b"targetImageData" => Tag::TargetImageData,
            b"sourceBase64Length" => Tag::SourceBase64Length,
            b"sourceBase64Data" => Tag::SourceBase64Data,
            b"targetBase64Length" => Tag::TargetBase64Length,
            b"targetBase64Data" => Tag::TargetBase64Data,
            b"plateNumber" => Tag::PlateNumber,
            b"vehicleListType" => Tag::VehicleListType,
            b"PlateConfidence" | b"plateConfidence" => Tag::PlateConfidence,
            b"vehicleDirect" => Tag::VehicleDirect,
            b"carAttr" => Tag::CarAttr,
            b"carAttribute" => Tag::CarAttribute,
            b"carType" => Tag::CarType,
            b"type" => Tag::Type,
            b"color" => Tag::Color,
            b"brand" => Tag::Brand,
            b"model" => Tag::Model,
            b"licensePlateAttribute" => Tag::LicensePlateAttribute,
            b"licensePlateNumber" => Tag::LicensePlateNumber,
            b"licensePlateMatchInfo" => Tag::LicensePlateMatchInfo,
            b"groupName" => Tag::GroupName,
            b"carOwner" => Tag::CarOwner,
            b"age" => Tag::Age,
            b"sex" => Tag::Sex,
            b"glasses" => Tag::Glasses,
            b"mask" => Tag::Mask,
            _ => Tag::Other,
        }
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
