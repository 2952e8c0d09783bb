// Original file: proto/switchboard/v1/message_service.proto


export interface TypingResponse {
}

export interface TypingResponse__Output {
}
