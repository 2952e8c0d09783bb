// Original file: proto/switchboard/v1/message_service.proto


export interface SendError {
  'code'?: (number);
  'message'?: (string);
  'reason'?: (string);
}

export interface SendError__Output {
  'code': (number);
  'message': (string);
  'reason': (string);
}
