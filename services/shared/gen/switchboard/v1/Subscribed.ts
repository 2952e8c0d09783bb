// Original file: proto/switchboard/v1/message_service.proto


export interface Subscribed {
  'messageServiceId'?: (string);
  'streamSend'?: (boolean);
  'presenceAck'?: (boolean);
  'batchMaxBytes'?: (number);
}

export interface Subscribed__Output {
  'messageServiceId': (string);
  'streamSend': (boolean);
  'presenceAck': (boolean);
  'batchMaxBytes': (number);
}
