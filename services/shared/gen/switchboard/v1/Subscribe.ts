// Original file: proto/switchboard/v1/message_service.proto


export interface Subscribe {
  'connectServiceId'?: (string);
  'onlineUsers'?: (string)[];
  'batchMaxBytes'?: (number);
  'sessions'?: (boolean);
}

export interface Subscribe__Output {
  'connectServiceId': (string);
  'onlineUsers': (string)[];
  'batchMaxBytes': (number);
  'sessions': (boolean);
}
